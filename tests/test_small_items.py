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


# 1-D versions of the fixtures of every rule whose message names points of the input: a sequence has
# positions, not pixels, and is not an image (3-D inputs have voxels)
ONE_D = {
    "CS205": "input: [1, 3, 32]\nlayers:\n  - Conv1d: {out_channels: 16, kernel_size: 2, padding: same}\n",
    "CS206": "input: [1, 64, 8]\nlayers:\n  - ConvTranspose1d: {out_channels: 32, kernel_size: 3, stride: 2, "
             "padding: 1, output_padding: 1}\n",
    "CS301": "input: [1, 3, 224]\nlayers:\n  - Conv1d: {out_channels: 32, kernel_size: 3, padding: 1}\n"
             "  - AdaptiveAvgPool1d: {output_size: 1}\n  - Flatten\n  - Linear: {out_features: 10}\n",
    "CS302": "input: [1, 64, 56]\nlayers:\n  - {Conv1d: {out_channels: 64, kernel_size: 3, stride: 2, padding: 1},"
             " name: conv}\n  - {AvgPool1d: {kernel_size: 2, stride: 2}, name: pool, inputs: input}\n"
             "  - {Add: {}, inputs: [conv, pool]}\n",
    "CS502": "input: [1, 3, 34]\nlayers:\n  - {Conv1d: {out_channels: 8, kernel_size: 3, stride: 2}, noqa: CS201}\n"
             "  - {Conv1d: {out_channels: 8, kernel_size: 3, stride: 2}, noqa: CS201}\n",
}


def test_every_message_names_points_by_the_inputs_rank():
    for code, text in ONE_D.items():
        [f] = [f for f in cs.lint(cs.loads(text)) if f.code == code]
        assert "pixel" not in f.message and "image" not in f.message and "voxel" not in f.message, (code, f.message)
    [f] = [f for f in cs.lint(cs.loads(ONE_D["CS301"])) if f.code == "CS301"]
    # 3 + 2 = 5 after one 3-wide conv: 5 positions of the 224 input, and the whole sequence
    assert "see only 3 positions of the 224 input" in f.message and "never sees the whole sequence" in f.message
    [f] = [f for f in cs.lint(cs.loads(ONE_D["CS205"])) if f.code == "CS205"]
    assert "needs 1 position of padding" in f.message and "half a position" in f.message
    [f] = [f for f in cs.lint(cs.loads(ONE_D["CS502"])) if f.code == "CS502"]
    assert "would use every position" in f.message
    budget = cs.lint(cs.loads(ONE_D["CS301"]), min_receptive_field=100)
    [f] = [f for f in budget if f.code == "CS604"]
    assert "is 3 input positions, below" in f.message
    three_d = "input: [1, 3, 7, 7, 7]\nlayers:\n  - Conv3d: {out_channels: 8, kernel_size: 3, stride: 3}\n"
    [f] = [f for f in cs.lint(cs.loads(three_d)) if f.code == "CS201"]
    # windows at 0-2 and 3-5 read 6 of 7 per axis: 7³ − 6³ = 343 − 216 = 127 voxels dropped
    assert "127 of 343 input voxels (37%) are dropped" in f.message


CS105_WITH_LINEAR = """
input: [1, 3, 16, 16]
layers:
  - Conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - MaxPool2d: {kernel_size: 2}
  - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
  - MaxPool2d: {kernel_size: 2}
  - MaxPool2d: {kernel_size: 2}
  - Conv2d: {out_channels: 64, kernel_size: 3}
  - Flatten
  - Linear: {in_features: IN, out_features: 10}
"""


def test_cs105_hint_accounts_for_a_written_in_features():
    # ⌊⌊⌊⌈H/2⌉/2⌋/2⌋/2⌋ − 2 ≥ 1 from H = 47; the last conv gives 1×1 up to H = 62 and 2×2 from 63,
    # so in_features = 64·1·1 = 64 holds for 47..62 only (the old hint said H ≥ 47: 64 would fail)
    [f] = [f for f in cs.lint(cs.loads(CS105_WITH_LINEAR.replace("IN", "64"))) if f.code == "CS105"]
    assert "It needs a network input with 47 ≤ H ≤ 62 and 47 ≤ W ≤ 62 (above that linear_1 fails: " \
           "in_features=64 but the input gives 128)" in f.message
    assert cs.analyze(cs.loads(CS105_WITH_LINEAR.replace("IN", "64")), "1,3,62,62").output_shape == (1, 10)
    # in_features = 128 needs a 1×2 map: not at the smallest sizes, so the hint names the argument
    [f] = [f for f in cs.lint(cs.loads(CS105_WITH_LINEAR.replace("IN", "128"))) if f.code == "CS105"]
    assert "but at H = 47, W = 47 linear_1 fails next (in_features=128 but the input gives 64): choose sizes " \
           "that give linear_1 its in_features, or leave in_features out (it is inferred)" in f.message
    # inferred in_features: no upper bound, the message is as before
    [f] = [f for f in cs.lint(cs.loads(CS105_WITH_LINEAR.replace("in_features: IN, ", ""))) if f.code == "CS105"]
    assert "It needs a network input with H ≥ 47 and W ≥ 47; or use padding" in f.message
