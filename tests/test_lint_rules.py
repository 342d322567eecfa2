"""Lint rules: the registry's contract, one fixture per rule (exactly that rule, at the marked
lines) with a snapshot of its findings, and the docstring examples linted both ways.

Snapshots live in tests/lint_snapshots/; refresh them, after checking the change is intended, with
    CONVSHAPE_UPDATE_GOLDEN=1 python -m pytest tests/test_lint_rules.py
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import convshape as cs
from convshape.lint.registry import RULES, SECTIONS, Rule, parse_sections, rule, rules
from convshape.lint.runner import lint, lint_paths
from convshape.render import lint_text

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path("tests/lint_fixtures")
SNAPSHOTS = ROOT / "tests" / "lint_snapshots"
UPDATE = os.environ.get("CONVSHAPE_UPDATE_GOLDEN") == "1"
ALL = rules()


# ---------------------------------------------------------------- the registry's contract
@pytest.mark.parametrize("code", list(ALL))
def test_rule_docstring_has_every_section(code):
    r = ALL[code]
    assert r.missing_sections() == [], f"{code} lacks {r.missing_sections()}"
    assert r.snippet("Example") and r.snippet("Use instead"), f"{code}: Example and Use instead need a ```yaml spec"
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", r.name)


def test_a_missing_section_is_detected():
    doc = "## What it does\nx\n\n## Why is this bad?\ny\n\n## Example\n```yaml\na: 1\n```\n"
    r = Rule("CS999", "probe", "warning", lambda ctx: [], doc, parse_sections(doc))
    assert r.missing_sections() == ["Use instead"]
    assert set(SECTIONS) - set(parse_sections(doc)) == {"Use instead"}


def test_registering_twice_or_badly_raises():
    with pytest.raises(ValueError, match="registered twice"):
        rule("CS201", "another-name", "warning")(lambda ctx: [])
    with pytest.raises(ValueError, match="registered twice"):
        rule("CS998", "stride-does-not-tile", "warning")(lambda ctx: [])
    with pytest.raises(ValueError, match="kebab"):
        rule("CS997", "NotKebab", "warning")
    with pytest.raises(ValueError, match="three digits"):
        rule("X201", "x", "warning")
    with pytest.raises(ValueError, match="severity"):
        rule("CS996", "x", "fatal")
    assert not {"CS996", "CS997", "CS998"} & set(RULES)


def test_at_least_fifteen_rules_in_every_family():
    assert len(ALL) >= 15
    assert {r.family for r in ALL.values()} >= {"errors", "design", "receptive field", "efficiency", "budgets"}


def test_codes_are_grouped_by_family():
    for code, r in ALL.items():
        expected = {"1": "error", "6": "error"}.get(code[2])
        if expected:
            assert r.severity == expected, code
        else:
            assert r.severity in ("warning", "info"), code


# ---------------------------------------------------------------- fixtures and snapshots
def fixture_files():
    return sorted((ROOT / FIXTURES).glob("CS*.yaml"))


def test_every_rule_has_a_fixture():
    have = {p.name.split(".")[0].split("-")[0] for p in fixture_files()}
    assert set(ALL) <= have, f"no fixture for {sorted(set(ALL) - have)}"


def expected_lines(path: Path) -> tuple[str, set]:
    code = path.name.split(".")[0].split("-")[0]
    lines = {n for n, text in enumerate(path.read_text().splitlines(), 1) if f"# expect: {code}" in text}
    assert lines, f"{path.name} marks no line with '# expect: {code}'"
    return code, lines


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.stem)
def test_fixture_triggers_exactly_its_rule_at_the_marked_lines(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, lines = expected_lines(path)
    result = lint_paths([str(FIXTURES / path.name)], config=False)
    assert not result.errors, result.errors[0].error
    assert {f.code for f in result.findings} == {code}
    assert {f.line for f in result.findings} == lines
    for f in result.findings:
        assert f.file == str(FIXTURES / path.name) and f.column is not None and len(f.message) > 60

    text = lint_text.render(result)
    snap = SNAPSHOTS / (path.stem + ".txt")
    if UPDATE:
        snap.write_text(text)
    if not snap.exists():
        pytest.fail(f"no snapshot {snap.name}; create it with CONVSHAPE_UPDATE_GOLDEN=1 python -m pytest {__file__}")
    assert text == snap.read_text(), (f"{path.name}: findings differ from {snap.name} (if intended: "
                                      f"CONVSHAPE_UPDATE_GOLDEN=1 python -m pytest {__file__})")


def test_no_stale_snapshots():
    assert {p.stem for p in SNAPSHOTS.glob("*.txt")} == {p.stem for p in fixture_files()}


# ---------------------------------------------------------------- the docs' examples are true
@pytest.mark.parametrize("code", list(ALL))
def test_example_triggers_the_rule_and_use_instead_does_not(code):
    r = ALL[code]
    bad = lint(cs.loads(r.snippet("Example"), name=f"{code}-example.yaml"))
    assert code in {f.code for f in bad}, f"{code}'s Example does not trigger it"
    good = lint(cs.loads(r.snippet("Use instead"), name=f"{code}-use-instead.yaml"))
    assert [f.code for f in good if f.severity != "info"] == [], f"{code}'s Use instead still has findings"


# ---------------------------------------------------------------- symbolic inputs: for which sizes
def test_symbolic_findings_say_for_which_sizes():
    spec = """\
input: [N, 3, H, W]
lint: {max-macs: 1M}
layers:
  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
  - ReLU
  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
  - ReLU
  - AdaptiveAvgPool2d: {output_size: 1}
  - Flatten
  - Linear: {out_features: 10}
"""
    found = {f.code: f.message for f in lint(cs.loads(spec))}
    assert set(found) == {"CS301", "CS602"}
    # two 3x3 convolutions: receptive field 5x5
    assert "only 5×5 pixels of the H×W input when H > 5 or W > 5" in found["CS301"]
    # MACs: N*H*W*16*27 + N*H*W*16*144 + N*160 = 2736*H*W*N + 160*N
    assert "over the max-macs budget of 1,000,000 when 2736*H*N*W + 160*N > 1000000" in found["CS602"]


def test_stride_tiling_residues_for_a_symbolic_input():
    # conv k3 s2 p1 gives floor((H-1)/2)+1; a k2 s2 conv then drops a row when that is odd: H mod 4 in {1, 2}
    found = lint(cs.load(str(ROOT / FIXTURES / "CS201-symbolic.yaml")))
    assert "the last row on H when H mod 4 is 1 or 2" in found[0].message
    found = lint(cs.loads("input: [1, 3, H, 8]\nlayers:\n  - MaxPool2d: {kernel_size: 2}\n"))
    assert [f.code for f in found] == ["CS201"] and "the last row on H when H is odd" in found[0].message
