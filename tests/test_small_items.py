"""Smaller first-hour items: the YAML hint for a bare kind with keys, CS201's formula agreeing
between its message, its docs and README, 1-D wording, and the sdist carrying the docs."""
from pathlib import Path

from click.testing import CliRunner

import convshape as cs
from convshape.cli import main
from convshape.lint.registry import rules

ROOT = Path(__file__).resolve().parent.parent


def test_bare_kind_with_indented_name_gets_a_hint(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [1, 3, 8, 8]\nlayers:\n  - BatchNorm2d\n    name: bn1\n")
    r = CliRunner().invoke(main, ["summary", str(spec)])
    assert r.exit_code == 2
    assert r.output.startswith(f"error: {spec}:4:9: invalid YAML: mapping values are not allowed")
    assert "write `- BatchNorm2d:` (no arguments) or `- BatchNorm2d: {...}`, with `name:` on the next line" in r.output
    spec.write_text("input: [1, 3, 8, 8]\nlayers:\n  - BatchNorm2d:\n    name: bn1\n")
    assert CliRunner().invoke(main, ["summary", str(spec)]).exit_code == 0


def test_cs201_formula_is_the_same_in_message_docs_and_readme():
    formula = "(size + 2·padding − kernel) is a multiple of the stride"
    findings = cs.lint(cs.loads("input: [1, 3, 7, 7]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 3}\n"))
    [f] = [f for f in findings if f.code == "CS201"]
    assert formula in f.message and "Use padding=1" in f.message   # 7 + 2·1 − 3 = 6 = 2 × 3
    assert formula in rules()["CS201"].doc
    assert "(size + padding − kernel)" not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_cs201_on_a_1d_signal_counts_positions_not_pixels():
    findings = cs.lint(cs.loads("input: [1, 1, 7]\nlayers:\n  - Conv1d: {out_channels: 8, kernel_size: 3, stride: 3}\n"))
    [f] = [f for f in findings if f.code == "CS201"]
    assert "1 of 7 input positions (14%) are dropped" in f.message and "pixel" not in f.message


def test_sdist_manifest_carries_docs():
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8").splitlines()
    assert "graft docs" in manifest and "graft tests" in manifest
