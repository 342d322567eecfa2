"""`convshape lint` end to end: the acceptance cases, exit codes, many files and globs, and every
zoo network (no errors; its warnings documented in docs/lint.md)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import convshape as cs
from convshape.cli import main
from convshape.lint.runner import lint

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "lint_fixtures"


def run(*args):
    return CliRunner().invoke(main, ["lint", *args, "--config", str(ROOT / "pyproject.toml")])


def test_resnet50_over_a_parameter_budget_prints_an_error_annotation_and_exits_1():
    result = CliRunner().invoke(main, ["lint", "zoo:resnet50", "--max-params", "1000000", "--format", "github"])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("::error file=zoo%3Aresnet50,line=1,col=1,title=convshape (CS601)::"
                                    "the network has 25,557,032 parameters, over the max-params budget of 1,000,000.")


def test_warnings_pass_by_default_and_fail_with_fail_on_warning():
    spec = str(FIXTURES / "CS201.yaml")
    assert run(spec).exit_code == 0
    assert run(spec, "--fail-on", "warning").exit_code == 1
    assert run(str(FIXTURES / "CS402.yaml"), "--fail-on", "warning").exit_code == 0
    assert run(str(FIXTURES / "CS402.yaml"), "--fail-on", "info").exit_code == 1
    assert run(str(FIXTURES / "CS106.yaml"), "--fail-on", "never").exit_code == 0


def test_many_files_and_globs_in_one_call(tmp_path, monkeypatch):
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    for name, dest in [("CS201.yaml", "a.yaml"), ("CS203.yaml", "nested/b.yaml"),
                       ("CS106.yaml", "nested/deeper/c.yaml")]:
        shutil.copy(FIXTURES / name, tmp_path / dest)
    monkeypatch.chdir(tmp_path)
    result = run("*.yaml", "nested/**/*.yaml", "zoo:lenet*")
    assert result.exit_code == 1  # c.yaml has an error
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines[:-1]] == [
        "a.yaml:5:47", "nested/b.yaml:5:5", "nested/deeper/c.yaml:12:14",
        "zoo:lenet5:6:14", "zoo:lenet5:9:14", "zoo:lenet5:13:5", "zoo:lenet5:13:33"]
    assert lines[-1] == "1 error, 3 warnings, 3 infos in 4 files."


def test_unreadable_file_exits_2_but_the_others_are_linted(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, strid: 2}\n")
    result = run(str(FIXTURES / "CS201.yaml"), str(bad))
    assert result.exit_code == 2
    assert "CS201" in result.stdout
    assert result.stderr.startswith(f"error: {bad}:3:") and "unknown argument 'strid'" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("args,fragment", [
    (["--select", "E501"], "--select"), (["--max-macs", "lots"], "--max-macs"),
])
def test_bad_options_exit_2_with_one_line(args, fragment):
    result = run(str(FIXTURES / "CS201.yaml"), *args)
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and fragment in result.stderr


def test_output_file(tmp_path):
    out = tmp_path / "report.sarif"
    result = run(str(FIXTURES / "CS201.yaml"), "--format", "sarif", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert '"ruleId": "CS201"' in out.read_text()


# ---------------------------------------------------------------- planted mistakes, as a newcomer writes them
def test_a_planted_mistake_of_each_kind_is_caught_with_file_line_and_explanation():
    """Every fixture is a small real network with one planted mistake (tests/lint_fixtures/*.yaml):
    lint names the file and the marked line, and the message says what is wrong, with the numbers,
    and what to do (here: checked for the words a newcomer needs)."""
    must_say = {
        "CS100": ["expects a 3 or 4-D input"], "CS101": ["[1, 64, 28, 28]", "[1, 64, 56, 56]", "stride"],
        "CS102": ["in_channels=16", "32 channels", "set in_channels: 32"], "CS103": ["groups=32", "48"],
        "CS104": ["padding 2", "size -1"], "CS105": ["3", "only 1", "H ≥ 47"],
        "CS106": ["in_features=2352", "3,072", "48 channels × 8 × 8"],
        "CS201": ["13 of 49", "last row", "padding=1"], "CS202": ["3/4", "ResNet-D"], "CS203": ["bias: false"],
        "CS204": ["ReLU", "9×9"], "CS205": ["half a pixel"], "CS206": ["checkerboard", "kernel_size 4"],
        "CS207": ["global maximum"], "CS208": ["variance"], "CS209": ["on H only", "dilation: 2"], "CS301": ["7×7", "224×224"], "CS302": ["0.5"],
        "CS401": ["%"], "CS402": ["multiple of 8"], "CS601": ["50,000"], "CS602": ["10,000,000"],
        "CS603": ["4,194,304"], "CS604": ["5×5", "64"],
    }
    for path in sorted(FIXTURES.glob("CS*.yaml")):
        code = path.name.split(".")[0].split("-")[0]
        found = lint(cs.load(str(path)))
        assert found and all(f.file == str(path) and f.line for f in found), path.name
        for word in must_say.get(path.stem, []):
            assert any(word in f.message for f in found), (path.name, word, found[0].message)


# ---------------------------------------------------------------- the zoo
def documented_zoo_warnings() -> dict:
    text = (ROOT / "docs" / "lint.md").read_text(encoding="utf-8").split("## Warnings the zoo keeps on purpose")[1]
    rows = re.findall(r"^\| zoo:(\S+) \| ([A-Z0-9, ]+) \|", text, re.M)
    return {name: {c.strip() for c in codes.split(",")} for name, codes in rows}


@pytest.mark.parametrize("name", cs.zoo_names())
def test_zoo_network_lints_without_errors_and_its_warnings_are_documented(name):
    found = lint(cs.load("zoo:" + name))
    assert [f for f in found if f.severity == "error"] == []
    warnings = {f.code for f in found if f.severity == "warning"}
    documented = documented_zoo_warnings().get(name, set())
    assert warnings == documented, (
        f"zoo:{name} has warnings {sorted(warnings)} but docs/lint.md lists {sorted(documented)}: fix the spec, "
        f"or add a row to 'Warnings the zoo keeps on purpose' saying why it stays")
