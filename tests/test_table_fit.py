"""The table at 80 columns (golden file), never breaking names; units, % and FLOPs columns, column
choice, the per-type breakdown and --output."""
import difflib
import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import convshape as cs
from convshape.cli import main
from convshape.render import cells, table
from convshape.report import ReceptiveField

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CONVSHAPE_UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str):
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"no golden file {path}; create it with CONVSHAPE_UPDATE_GOLDEN=1 python -m pytest {__file__}")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True)))


def rendered(report, **options) -> str:
    out = io.StringIO()
    table.render(report, file=out, **options)
    return out.getvalue()


def test_resnet18_at_80_columns_matches_its_golden_file_and_breaks_no_name(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    report = cs.analyze("zoo:resnet18")
    text = rendered(report, width=80)
    check_golden("resnet18-80col.table.txt", text)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    for r in report.layers:  # every name whole, on its row, with its type whole beside it
        assert any(line.startswith(f"│ {r.name} ") and f" {r.type} " in line for line in lines), r.name
    assert "│ total" in text and "1.81 G" in text   # 1,814,073,344 MACs abbreviated
    assert "MACs 1,814,073,344" in text           # and exact below


def test_too_narrow_keeps_names_whole_with_long_lines():
    report = cs.analyze("zoo:resnet18")
    text = rendered(report, width=40)
    assert any(line.startswith("│ layer4.1.downsample") or line.startswith("│ layer4.0.downsample.0 ")
               for line in text.splitlines())
    assert "AdaptiveAvgPool2d" in text   # not AdaptiveAv / gPool2d


def test_piped_honours_columns_and_width(monkeypatch):
    report = cs.analyze("zoo:resnet18")
    monkeypatch.delenv("COLUMNS", raising=False)
    natural = rendered(report)
    assert "hidden" not in natural and "RF stride" in natural and "118,013,952" in natural
    monkeypatch.setenv("COLUMNS", "80")
    assert max(len(line) for line in rendered(report).splitlines()) <= 80
    r = CliRunner().invoke(main, ["summary", "zoo:resnet18", "--width", "100"], env={"COLUMNS": ""})
    assert r.exit_code == 0 and max(len(line) for line in r.stdout.splitlines()) <= 100


def test_human_units():
    assert cells.human(4_089_184_256) == "4.09 G"
    assert cells.human(150_247_328, binary=True) == "143 MiB"   # 150,247,328 / 2**20 = 143.29
    assert cells.human(999) == "999" and cells.human(1_000) == "1 k" and cells.human(9_408) == "9.41 k"
    assert cells.human(512, binary=True) == "512 B"


def test_receptive_fields_get_thousands_separators():
    rf = ReceptiveField(size=(1023, 2048), stride=(32, 32), padding=(0, 0), is_global=False)
    assert cells.rf_size(rf) == "1,023×2,048"


def test_percent_and_flops_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    report = cs.analyze("zoo:lenet5")
    text = rendered(report, columns=table.parse_columns("params,params%,macs,macs%,flops"))
    row = next(line for line in text.splitlines() if line.startswith("│ conv2d_2 "))
    # 50*20*5*5 + 50 = 25,050 params of 1,256,080 = 2.0%; 25,000 * 14*14 = 4,900,000 MACs of 6,522,000 = 75.1%
    assert [c.strip() for c in row.strip("│").split("│")] == ["conv2d_2", "25,050", "2.0%", "4,900,000", "75.1%",
                                                              "9,800,000"]
    with pytest.raises(cs.SpecError, match="unknown column 'flop'"):
        table.parse_columns("params,flop")


def test_by_type_sums_per_layer_type():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    model = tv.models.resnet18()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    conv_params = sum(p.numel() for m in convs for p in m.parameters())   # 11,166,912
    r = CliRunner().invoke(main, ["summary", "zoo:resnet18", "--by", "type", "--units", "exact"], env={"COLUMNS": ""})
    row = next(line for line in r.stdout.splitlines() if line.startswith("│ Conv2d "))
    cols = [c.strip() for c in row.strip("│").split("│")]
    assert cols[:4] == ["Conv2d", str(len(convs)), f"{conv_params:,}", "95.5%"]  # 11,166,912 / 11,689,512


def test_output_file(tmp_path):
    out = tmp_path / "summary.txt"
    r = CliRunner().invoke(main, ["summary", "zoo:lenet5", "-o", str(out)])
    assert r.exit_code == 0 and r.stdout == ""
    assert "lenet5 · input 1×1×28×28" in out.read_text() and "\x1b[" not in out.read_text()
    r = CliRunner().invoke(main, ["summary", "zoo:lenet5", "--format", "json", "-o", str(out)])
    assert r.stdout == "" and '"params": 1256080' in out.read_text()


def test_symbolic_table_folds_expressions_not_names():
    report = cs.analyze("zoo:resnet18", "N,3,H,W")
    text = rendered(report, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "AdaptiveAvgPool2d" in text and "│ layer4.0.downsample.0 " in text
