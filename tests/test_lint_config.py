"""Lint configuration: sizes, prefix selection (most specific wins), the spec's lint: section,
[tool.convshape] in pyproject.toml with per-file ignores, noqa on a layer, and precedence."""
from __future__ import annotations

import textwrap

import pytest

import convshape as cs
from convshape.errors import SpecError
from convshape.lint.config import Options, Selection, parse_size
from convshape.lint.runner import lint, lint_paths

# 7x7 input, 3x3 kernel, stride 3 (CS201); bias before BatchNorm (CS203); 20 channels (CS402)
SPEC = """\
name: planted
input: [1, 3, 7, 7]
layers:
  - Conv2d: {out_channels: 16, kernel_size: 3, stride: 3}
    name: conv
  - BatchNorm2d
  - ReLU
  - Conv2d: {out_channels: 20, kernel_size: 1}
    name: wide
  - ReLU
  - Conv2d: {out_channels: 8, kernel_size: 1}
"""


def codes(findings):
    return sorted({f.code for f in findings})


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize("text,value", [
    (1000, 1000), ("1_000_000", 1_000_000), ("25M", 25_000_000), ("4.1G", 4_100_000_000),
    ("512MiB", 512 * 2**20), ("2KiB", 2048), ("3kB", 3000), ("7B", 7),
])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["abc", "0", -5, "1.5", "12 parsecs", True])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_most_specific_selector_wins_and_ignore_wins_ties():
    s = Selection(["ALL", "CS201"], ["CS2"])
    assert s.enabled("CS201") and not s.enabled("CS202") and s.enabled("CS101")
    assert not Selection(["CS2"], ["CS2"]).enabled("CS203")
    assert not Selection(["CS1"], []).enabled("CS201")
    assert Selection(None, []).enabled("CS402")


def test_default_finds_all_three_planted_mistakes():
    assert codes(lint(cs.loads(SPEC))) == ["CS201", "CS203", "CS402"]


def test_select_and_ignore_by_prefix():
    net = cs.loads(SPEC)
    assert codes(lint(net, select=["CS2"])) == ["CS201", "CS203"]
    assert codes(lint(net, ignore=["CS20"])) == ["CS402"]
    assert codes(lint(net, select=["CS201"], ignore=["CS2"])) == ["CS201"]


def test_spec_lint_section_selects_ignores_and_sets_budgets():
    net = cs.loads(SPEC.replace("layers:", "lint: {ignore: [CS4], max-params: 100}\nlayers:"))
    found = lint(net)
    assert codes(found) == ["CS201", "CS203", "CS601"]
    budget = next(f for f in found if f.code == "CS601")
    assert (budget.line, budget.column) == (3, 23)  # at `max-params` in the lint: section
    # 16*3*3*3 + 16 = 448; BatchNorm 32; 20*16 + 20 = 340; 8*20 + 8 = 168: 988 parameters
    assert "988 parameters" in budget.message and "100" in budget.message


def test_command_line_budget_overrides_the_spec():
    net = cs.loads(SPEC.replace("layers:", "lint: {max-params: 100}\nlayers:"))
    assert "CS601" not in codes(lint(net, max_params=10_000))


@pytest.mark.parametrize("section,fragment,line", [
    ("lint: {max_param: 5}", "unknown lint setting 'max_param'; did you mean 'max-params'?", 3),
    ("lint: {select: [CS9]}", "'CS9' matches no rule", 3),
    ("lint: {select: [E501]}", "not a rule selector", 3),
    ("lint:\n  max-macs: lots", "expected a size", 4),
])
def test_bad_lint_section_is_a_located_spec_error(section, fragment, line):
    net = cs.loads(SPEC.replace("layers:", section + "\nlayers:"), name="bad.yaml")
    with pytest.raises(SpecError) as e:
        lint(net)
    assert fragment in str(e.value) and e.value.line == line and e.value.file == "bad.yaml"


def test_noqa_on_a_layer_suppresses_only_there():
    net = cs.loads(SPEC.replace("    name: conv\n", "    name: conv\n    noqa: [CS201]\n"))
    # noqa is per rule: with CS201 silenced on 'conv', the path-level CS502 still reports the lost
    # row and column ((7 - 3) % 3 = 1), as its docstring documents; CS202..CS4xx are untouched
    assert codes(lint(net)) == ["CS203", "CS402", "CS502"]
    net = cs.loads(SPEC.replace("    name: conv\n", "    name: conv\n    noqa: [CS201, CS502]\n"))
    assert codes(lint(net)) == ["CS203", "CS402"]
    net = cs.loads(SPEC.replace("    name: wide\n", "    name: wide\n    noqa: CS4\n"))
    assert codes(lint(net)) == ["CS201", "CS203"]


def test_unknown_noqa_code_is_a_located_spec_error():
    net = cs.loads(SPEC.replace("    name: conv\n", "    name: conv\n    noqa: [CS2O1]\n"), name="n.yaml")
    with pytest.raises(SpecError, match="noqa: 'CS2O1' matches no rule") as e:
        lint(net)
    assert e.value.line == 6


def test_pyproject_select_ignore_per_file_ignores_and_budgets(tmp_path, monkeypatch):
    write(tmp_path, "a.yaml", SPEC)
    (tmp_path / "legacy").mkdir()
    write(tmp_path / "legacy", "b.yaml", SPEC)
    write(tmp_path, "pyproject.toml", """\
        [project]
        name = "demo"

        [tool.convshape]
        ignore = ["CS402"]
        max-macs = "1k"

        [tool.convshape.per-file-ignores]
        "legacy/*.yaml" = ["CS2"]
        """)
    monkeypatch.chdir(tmp_path)
    result = lint_paths(["a.yaml", "legacy/b.yaml"])
    by_file = {fr.file: codes(fr.findings) for fr in result.files}
    assert by_file == {"a.yaml": ["CS201", "CS203", "CS602"], "legacy/b.yaml": ["CS602"]}
    # the command line's select replaces the configured ones; ignore lists still add up
    result = lint_paths(["a.yaml"], Options.from_cli(select=["CS4,CS6"]))
    assert codes(result.findings) == ["CS602"]
    # config=False reads no pyproject.toml
    assert codes(lint_paths(["a.yaml"], config=False).findings) == ["CS201", "CS203", "CS402"]


def test_unknown_pyproject_key_is_located(tmp_path):
    p = write(tmp_path, "pyproject.toml", """\
        [tool.convshape]
        select = ["CS1"]
        max-parms = 10
        """)
    write(tmp_path, "a.yaml", SPEC)
    with pytest.raises(SpecError) as e:
        lint_paths([str(tmp_path / "a.yaml")], config=p)
    assert e.value.line == 3 and e.value.column == 1 and "did you mean 'max-params'" in str(e.value)


def test_cli_options_reject_bad_values():
    with pytest.raises(SpecError, match="--select"):
        Options.from_cli(select=["XX1"])
    with pytest.raises(SpecError, match="--max-params"):
        Options.from_cli(max_params="many")
    assert Options.from_cli(select=["cs2, CS401"], max_macs="4G").select == ["CS2", "CS401"]
