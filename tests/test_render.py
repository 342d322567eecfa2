"""Renderers: golden files of every format, plus the properties each format promises.

Golden files live in tests/golden/. After an intended change of output, regenerate them with

    CONVSHAPE_UPDATE_GOLDEN=1 python -m pytest tests/test_render.py

and review the diff before committing (as torchinfo does with its --overwrite switch).
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import os
from pathlib import Path

import pytest

import convshape as cs
from convshape.render import cells
from convshape.render import csv as csv_render
from convshape.render import json as json_render
from convshape.render import html, markdown, mermaid, table
from convshape.render.rows import rows_for

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CONVSHAPE_UPDATE_GOLDEN") == "1"
WIDTH = 140  # fixed console width keeps the rich table's golden stable on any terminal


def check_golden(name: str, text: str):
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}; create it with CONVSHAPE_UPDATE_GOLDEN=1 python -m pytest {__file__}")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(list(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                                 f"golden/{name}", "rendered"))[:60])
        pytest.fail(f"{name} differs from its golden file (if intended: CONVSHAPE_UPDATE_GOLDEN=1 "
                    f"python -m pytest {__file__}):\n{diff}")


def table_text(report, depth=None) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=WIDTH, color_system=None, force_terminal=False,
                      record=True, highlight=False, emoji=False)
    table.render(report, depth=depth, console=console)
    return console.export_text()


# (golden stem, spec, input override, depth)
CASES = [
    ("lenet5", "zoo:lenet5", None, None),
    ("lenet5-symbolic", "zoo:lenet5", ("N", 1, "H", "W"), None),
    ("resnet50-depth1", "zoo:resnet50", None, 1),
    ("resnet50-depth0", "zoo:resnet50", None, 0),
]
RENDERERS = {
    "table.txt": lambda r, d: table_text(r, d),
    "md": lambda r, d: markdown.render(r, depth=d),
    "html": lambda r, d: html.render(r, depth=d),
    "csv": lambda r, d: csv_render.render(r, depth=d),
    "mmd": lambda r, d: mermaid.render(r, depth=d),
}


@pytest.fixture(scope="module")
def reports():
    return {stem: cs.analyze(cs.load(spec), shape) for stem, spec, shape, _ in CASES}


@pytest.mark.parametrize("stem,spec,shape,depth", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("ext", list(RENDERERS))
def test_golden(reports, stem, spec, shape, depth, ext):
    check_golden(f"{stem}.{ext}", RENDERERS[ext](reports[stem], depth))


@pytest.mark.parametrize("stem", ["lenet5", "lenet5-symbolic", "resnet50-depth1"])
def test_golden_json(reports, stem):
    # JSON has no depth: it is always every layer (the contract for scripts)
    check_golden(f"{stem.removesuffix('-depth1')}.json", json_render.render(reports[stem]) + "\n")


# ---------------------------------------------------------------- cells
@pytest.mark.parametrize("expr,text", [
    ("floor(H/2)", "⌊H/2⌋"),
    ("floor(floor(H/2)/2)", "⌊⌊H/2⌋/2⌋"),
    ("ceiling(W/3) + 1", "⌈W/3⌉ + 1"),
    ("500*H*N*W", "500·H·N·W"),
    ("N*H**2", "N·H^2"),
    ("Eq(50*floor(H/4), 2450)", "50·⌊H/4⌋ = 2450"),
    ("myfloor(H)", "myfloor(H)"),  # only sympy's floor function, not a name that ends in it
])
def test_readable_symbolic(expr, text):
    assert cells.readable(expr) == text


def test_counts_and_shapes():
    assert cells.count(25_557_032) == "25,557,032"
    assert cells.shape((1, 3, 224, 224)) == "1×3×224×224"


# ---------------------------------------------------------------- --depth rows
def test_depth0_collapses_repeats_with_their_count(reports):
    r = reports["resnet50-depth0"]
    rows = rows_for(r, 0)
    assert [(row.name, cells.kind(row)) for row in rows] == [
        ("conv1", "Conv2d"), ("bn1", "BatchNorm2d"), ("relu", "ReLU"), ("maxpool", "MaxPool2d"),
        ("layer1", "Bottleneck ×3"), ("layer2", "Bottleneck ×4"), ("layer3", "Bottleneck ×6"),
        ("layer4", "Bottleneck ×3"), ("avgpool", "AdaptiveAvgPool2d"), ("flatten_1", "Flatten"), ("fc", "Linear"),
    ]
    layer1 = rows[4]
    # 10 layers per block (conv1 bn1 relu conv2 bn2 relu conv3 bn3 add relu) x 3 + the projection conv, bn = 32
    assert len(layer1.layers) == 32
    # 1x1 64->64, 3x3 64->64, 1x1 64->256, projection 64->256 = 4096 + 36864 + 16384 + 16384 = 73_728 weights,
    # 4 BatchNorms of 64, 64, 256, 256 channels = 1280 params; blocks 2, 3: 256->64, 64->64 3x3, 64->256
    # = 16384 + 36864 + 16384 = 69_632 weights + 768 BN params each
    assert layer1.params == 73_728 + 1_280 + 2 * (69_632 + 768)  # 215_808
    assert layer1.output_shape == (1, 256, 56, 56)
    assert layer1.inputs == ("maxpool",)


def test_collapsed_rows_add_up_to_the_totals(reports):
    r = reports["resnet50-depth1"]
    for depth in (None, 0, 1, 2):
        rows = rows_for(r, depth)
        assert sum(row.params for row in rows) == r.totals.params
        assert sum(row.macs for row in rows) == r.totals.macs
        assert sum(row.activation_bytes for row in rows) == r.totals.activation_bytes
        assert sum(len(row.layers) for row in rows) == len(r.layers)
    assert len(rows_for(r, 1)) == 4 + 16 + 3  # stem, 3+4+6+3 Bottlenecks, head
    assert len(rows_for(r, 2)) == len(r.layers)


def test_repeated_plain_layer_collapses():
    net = cs.loads("input: [1, 8, 16, 16]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n"
                   "    name: body\n    repeat: 4\n  - ReLU\n")
    rows = rows_for(cs.analyze(net), 0)
    assert [(row.name, cells.kind(row), len(row.layers)) for row in rows] == [
        ("body", "Conv2d ×4", 4), ("relu_1", "ReLU", 1)]


def test_templated_repeat_collapses_under_its_pattern():
    net = cs.loads("input: [1, 8, 16, 16]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n"
                   "    name: \"block{i + 1}\"\n    repeat: 3\n")
    rows = rows_for(cs.analyze(net), 0)
    assert [(row.name, cells.kind(row), len(row.layers)) for row in rows] == [("block*", "Conv2d ×3", 3)]
    assert [r.name for r in rows_for(cs.analyze(net), None)] == ["block1", "block2", "block3"]


# ---------------------------------------------------------------- formats
def test_csv_holds_every_json_layer_field(reports):
    for stem in ("lenet5", "lenet5-symbolic", "resnet50-depth1"):
        report = reports[stem]
        rows = list(csv.DictReader(io.StringIO(csv_render.render(report))))
        layers = report.to_dict()["layers"]
        assert len(rows) == len(layers)
        for row, layer in zip(rows, layers):
            flat = csv_render.flatten(layer)
            assert set(flat) <= set(row)
            for key, value in flat.items():
                text = row[key]
                if isinstance(value, (list, bool)):
                    assert json.loads(text) == value, key
                elif value is None:
                    assert text == ""
                else:
                    assert text == str(value), key


def test_csv_depth_rows_carry_counts(reports):
    rows = list(csv.DictReader(io.StringIO(csv_render.render(reports["resnet50-depth0"], depth=0))))
    layer3 = next(r for r in rows if r["name"] == "layer3")
    assert (layer3["type"], layer3["repeat"], layer3["layers"]) == ("Bottleneck", "6", "62")  # 6 x 10 + 2
    assert json.loads(layer3["output_shape"]) == [1, 1024, 14, 14]


def _edges(text: str) -> list[tuple[str, str, str]]:
    out = []
    for ln in text.splitlines():
        if "-->" in ln:
            src, rest = ln.strip().split(" -->|")
            label, dst = rest.rsplit("| ", 1)
            out.append((src, json.loads(label), dst))
    return out


def test_mermaid_draws_every_input_of_every_layer(reports):
    r = reports["resnet50-depth1"]
    text = mermaid.render(r)
    assert text.startswith("flowchart TD\n")
    edges = _edges(text)
    # one edge per input of each layer, plus the edge to the output node
    assert len(edges) == sum(len(layer.inputs) for layer in r.layers) + 1
    ids = {ln.split("[")[0].strip(): ln for ln in text.splitlines() if '<br/>' in ln}
    adds = [i for i, ln in ids.items() if "<br/>Add" in ln]
    assert len(adds) == 16
    for add in adds:  # a residual Add shows both its branch and its shortcut
        assert len([e for e in edges if e[2] == add]) == 2
    first = next(e for e in edges if e[0] == "net_in")
    assert first[1] == "1×3×224×224"


def test_mermaid_merge_with_identity_shortcut():
    spec = """
input: [1, 16, 8, 8]
layers:
  - Conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
    name: branch
  - Add:
    inputs: [branch, input]
  - Concat:
    inputs: [add_1, branch]
"""
    text = mermaid.render(cs.analyze(cs.loads(spec)))
    edges = _edges(text)
    assert ("net_in", "1×16×8×8", "n0") in edges and ("net_in", "1×16×8×8", "n1") in edges  # both Add inputs
    assert ("n1", "1×16×8×8", "n2") in edges and ("n0", "1×16×8×8", "n2") in edges        # both Concat inputs
    assert ("n2", "1×32×8×8", "net_out") in edges


def test_markdown_is_one_github_table_plus_totals(reports):
    text = markdown.render(reports["lenet5"])
    lines = text.splitlines()
    table_lines = [ln for ln in lines if ln.startswith("|")]
    assert len(table_lines) == 2 + 10 + 1  # header, alignment, 10 layers, total
    assert all(ln.count(" | ") == 8 for ln in table_lines)  # 9 columns, no stray pipes
    assert "| **total** |  | 1×10 | 1,256,080 | 6,522,000 |" in text
    assert "- **compute**: MACs 6,522,000; FLOPs 13,044,000 forward" in text


def test_table_shows_symbolic_conditions(reports):
    text = table_text(reports["lenet5-symbolic"])
    assert "N×50×⌊⌊H/2⌋/2⌋×⌊⌊W/2⌋/2⌋" in text
    assert "requires" in text and "50·⌊⌊H/2⌋/2⌋·⌊⌊W/2⌋/2⌋ = 2450" in text


def test_narrow_terminal_hides_optional_columns_and_says_so():
    from click.testing import CliRunner

    from convshape.cli import main
    result = CliRunner().invoke(main, ["summary", "zoo:resnet50", "--depth", "0"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    note = " ".join(lines)
    # numbers abbreviated first (4.09 G), then columns dropped; the note says both
    assert "numbers abbreviated" in note and "RF stride, act. bytes hidden to fit 80 columns" in note
    assert "│ total     │                   │ 1×1000       │ 25.6 M │ 4.09 G │" in result.stdout
    assert "MACs 4,089,184,256" in result.stdout  # exact totals below the table
    exact = CliRunner().invoke(main, ["summary", "zoo:resnet50", "--depth", "0", "--units", "exact"],
                               env={"COLUMNS": "80"})
    assert "118,013,952" in exact.stdout  # exact numbers are never broken across lines
    assert max(len(line) for line in exact.stdout.splitlines()) <= 80
    wide = CliRunner().invoke(main, ["summary", "zoo:resnet50", "--depth", "0"], env={"COLUMNS": "200"})
    assert "hidden" not in wide.stdout and "RF stride" in wide.stdout
