"""The docs stay true: generated references are current, examples run, figures match the code."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import convshape as cs
from convshape import docsgen
from convshape.cli import main
from convshape.layers import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------- generated references
def test_generated_docs_are_current():
    stale = docsgen.stale(DOCS)
    assert not stale, (f"{', '.join(p.name for p in stale)} out of date with the code: "
                       f"run `{docsgen.COMMAND}` and commit the result")


def test_spec_reference_has_every_layer_kind_with_its_arguments():
    text = read(DOCS / "spec.md")
    headings = [h for line in text.splitlines() if line.startswith("#### ") for h in line[5:].split(", ")]
    assert sorted(headings) == sorted(REGISTRY)
    # Conv2d's section lists torch's arguments with their defaults
    conv = text[text.index("#### Conv1d, Conv2d, Conv3d"):]
    conv = conv[:conv.index("\n#### ")]
    assert "| `out_channels` | int > 0 | required |" in conv
    assert "| `padding_mode` | `zeros` or `reflect` or `replicate` or `circular` | `zeros` |" in conv
    assert "| `in_channels` | int > 0 or null | inferred |" in conv


def test_cli_reference_has_every_command():
    text = read(DOCS / "cli.md")
    for name in main.commands:
        assert f"### convshape {name}\n" in text


def test_docsgen_check_fails_on_a_stale_file(tmp_path):
    for name in docsgen.TARGETS:
        (tmp_path / name).write_text(read(DOCS / name).replace("| `out_channels` |", "| `out_chans` |"))
    assert docsgen.main(["--check", "--docs", str(tmp_path)]) == 1
    assert docsgen.main(["--docs", str(tmp_path)]) == 0        # regenerates
    assert docsgen.main(["--check", "--docs", str(tmp_path)]) == 0


@pytest.mark.parametrize("tp,text", [
    ("PosInt", "int > 0"), ("IntOrTuple", "int > 0 or list of int > 0"),
    ("NonNegIntOrTuple", "int ≥ 0 or list of int ≥ 0"),
])
def test_type_text(tp, text):
    from convshape.layers import base
    assert docsgen.type_text(getattr(base, tp)) == text


# ---------------------------------------------------------------- examples in the docs run
def code_blocks(text: str, langs=("yaml", "json", "toml")):
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w+)\n(.*?)```", text, re.S) if m.group(1) in langs]


def test_spec_md_examples_load_and_analyze():
    complete = [(fmt, body) for fmt, body in code_blocks(read(DOCS / "spec.md")) if "input" in body and
                "layers" in body and "[...]" not in body]
    assert len(complete) >= 3  # the YAML example, its JSON and TOML forms
    for fmt, body in complete:
        network = cs.loads(body, name=f"example.{fmt}", fmt=fmt)
        report = cs.analyze(network, (1, 3, 32, 32) if "N, 3, H, W" in body else None)
        assert report.layers


def test_readme_example_output_is_real(monkeypatch):
    for var in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(var, raising=False)
    text = read(ROOT / "README.md")
    shown = text[text.index("$ convshape summary zoo:lenet5\n") + len("$ convshape summary zoo:lenet5\n"):]
    shown = shown[:shown.index("```")]
    result = CliRunner().invoke(main, ["summary", "zoo:lenet5"])
    assert result.exit_code == 0
    strip = lambda s: [line.rstrip() for line in s.strip("\n").splitlines()]  # noqa: E731
    assert strip(result.stdout) == strip(shown), "README's example output is stale: paste the new output"
    # and the spec shown is the bundled one
    spec = code_blocks(text, ("yaml",))[0][1]
    bundled = (ROOT / "convshape" / "zoo" / "lenet5.yaml").read_text()
    assert [ln for ln in spec.splitlines() if ln] == [ln for ln in bundled.splitlines()
                                                      if ln and not ln.startswith(("#", "description"))]


def test_readme_fresh_machine_commands_are_what_ci_runs():
    readme = read(ROOT / "README.md")
    setup = 'python -m pip install -e ".[dev]" && convshape summary zoo:resnet50'
    tests = "python -m pytest"
    assert f"```sh\n{setup}\n```" in readme
    assert f"```sh\n{tests}\n```" in readme
    ci = [ln.strip() for ln in read(ROOT / ".ci" / "run").splitlines()]
    assert setup in ci and tests in ci


def test_relative_links_resolve():
    for doc in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", read(doc)):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


# ---------------------------------------------------------------- conventions.md figures
def compare_tools():
    spec = importlib.util.spec_from_file_location("compare_tools", ROOT / "benchmarks" / "compare_tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(text: str, header: str):
    start = text.index(header)
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_conventions_reproduction_table_matches_the_analysis():
    # "from convshape" holds what the analysis gives today; "its figure" was measured on the tools
    ours = compare_tools().reproductions(cs.analyze(cs.load("zoo:resnet50")))
    rows = table_rows(read(DOCS / "conventions.md"), "| tool | its figure | from convshape | formula |")
    assert [r[0] for r in rows] == list(ours)
    for tool, measured, derived, formula in rows:
        assert number(derived) == ours[tool][1], tool
        assert number(measured) == number(derived), tool
        assert formula == ours[tool][0], tool


def test_conventions_grouped_backward_table_matches_the_analysis():
    module = compare_tools()
    rows = table_rows(read(DOCS / "conventions.md"), "| network | FlopCounterMode backward |")
    depthwise = cs.analyze(cs.loads(module.DEPTHWISE_SPEC)).totals.flops_backward
    assert number(rows[0][3]) == depthwise == 40_140_800  # 25,690,112 + 2 * 7,225,344
    if "mobilenet_v2" in cs.zoo_names():
        assert number(rows[1][3]) == cs.analyze(cs.load("zoo:mobilenet_v2")).totals.flops_backward


def test_conventions_other_ops_table_covers_every_layer_kind():
    text = read(DOCS / "conventions.md")
    section = text[text.index("## other_ops"):text.index("## Parameters and buffers")]
    listed = {k.strip() for line in section.splitlines() if line.startswith("| ")
              for k in line.split("|")[1].split(",")}
    missing = sorted(set(REGISTRY) - listed)
    assert not missing, f"docs/conventions.md's other_ops table lacks {missing}"


def test_markdown_tables_keep_their_columns():
    # a stray `|` (in a type, a metavar, a formula) would shift every cell after it
    for doc in [ROOT / "README.md", *DOCS.glob("*.md")]:
        width = None
        for n, line in enumerate(read(doc).splitlines(), 1):
            if not line.startswith("|"):
                width = None
                continue
            cells = len(re.findall(r"(?<!\\)\|", line))
            width = width or cells
            assert cells == width, f"{doc.name}:{n} has {cells - 1} columns, its table {width - 1}"
