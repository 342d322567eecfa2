"""The Python API a notebook uses: analyze(anything, shape as text or tuple), Report views, at()."""
import sys

import pytest

import convshape as cs
from convshape.errors import ShapeError, SpecError
from convshape.render import markdown

RESNET18_PARAMS = 11_689_512  # sum(p.numel() for p in torchvision.models.resnet18().parameters())


def test_shape_as_text_or_tuple_gives_the_same_report():
    a = cs.analyze("zoo:resnet18", "1,3,224,224")
    b = cs.analyze("zoo:resnet18", (1, 3, 224, 224))
    c = cs.analyze(cs.load("zoo:resnet18"), [1, 3, 224, 224])
    assert a.input_shape == b.input_shape == c.input_shape == (1, 3, 224, 224)
    assert a.totals.params == b.totals.params == c.totals.params == RESNET18_PARAMS


def test_spec_text_and_path_objects():
    text = "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n"
    r = cs.analyze(text)
    assert r.totals.params == 4 * 3 * 3 * 3 + 4   # 112
    assert r.output_shape == (1, 4, 6, 6)           # 8 - 3 + 1 = 6
    from pathlib import Path
    assert cs.analyze(Path("tests/lint_fixtures/CS205.yaml")).totals.params == 16 * 3 * 2 * 2 + 16  # 208


def test_torch_module_and_factory_reference_are_traced():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    from torch.utils.flop_counter import FlopCounterMode
    model = tv.models.resnet18(num_classes=10)
    params = sum(p.numel() for p in model.parameters())   # 11,181,642
    r = cs.analyze(model, "1,3,224,224")
    assert r.totals.params == params == 11_181_642
    with FlopCounterMode(display=False) as counter:      # conv + linear FLOPs = 2 * MACs
        model.eval()(torch.zeros(1, 3, 224, 224))
    assert 2 * r.totals.macs == counter.get_total_flops()
    f = cs.analyze("torchvision.models:resnet18", (1, 3, 224, 224), kwargs={"num_classes": 10})
    assert f.totals.params == params and f.totals.macs == r.totals.macs
    with pytest.raises(SpecError, match="concrete input_shape"):
        cs.analyze(model, "N,3,H,W")


def test_at_evaluates_a_symbolic_report_exactly():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    from torch.utils.flop_counter import FlopCounterMode
    symbolic = cs.analyze("zoo:resnet18", "N,3,H,W")
    concrete = symbolic.at(N=2, H=160, W=192)
    assert concrete.input_shape == (2, 3, 160, 192) and not concrete.symbols
    with FlopCounterMode(display=False) as counter:
        tv.models.resnet18().eval()(torch.zeros(2, 3, 160, 192))
    assert 2 * concrete.totals.macs == counter.get_total_flops()
    partial = symbolic.at(H=224, W=224)
    assert [str(d) for d in partial.input_shape] == ["N", "3", "224", "224"]
    assert partial.at(N=1).totals.macs == cs.analyze("zoo:resnet18").totals.macs


def test_at_refuses_unknown_names_and_bad_sizes():
    symbolic = cs.analyze("zoo:resnet18", "N,3,H,W")
    with pytest.raises(ValueError, match="unknown size X: this report's symbols are N, H, W"):
        symbolic.at(X=3)
    with pytest.raises(ValueError, match="positive int"):
        symbolic.at(H=0)
    with pytest.raises(ShapeError):  # lenet's in_features=2450 holds for 28..31 only
        cs.analyze("zoo:lenet5", "1,1,H,W").at(H=64, W=64)


def test_report_views():
    r = cs.analyze("zoo:lenet5")
    text = str(r)
    assert "lenet5 · input 1×1×28×28 · float32" in text and "conv2d_1" in text
    assert "\x1b[" not in text    # plain text, no colour codes
    html = r._repr_html_()
    assert html.startswith("<div>") and "<td style=\"text-align:left\">conv2d_1</td>" in html
    assert r._repr_markdown_() == markdown.render(r)


def _html_table(html: str) -> list[list[str]]:
    """The header row and every body row of a rendered HTML table, as cell texts (empty cells kept)."""
    from html.parser import HTMLParser

    rows: list = []

    class Cells(HTMLParser):
        in_cell = False

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                rows.append([])
            elif tag in ("td", "th"):
                rows[-1].append("")
                self.in_cell = True

        def handle_endtag(self, tag):
            self.in_cell = self.in_cell and tag not in ("td", "th")

        def handle_data(self, data):
            if self.in_cell:
                rows[-1][-1] += data

    Cells().feed(html)
    return rows


def test_html_cells_sit_under_their_headers():
    rows = _html_table(cs.analyze("zoo:lenet5")._repr_html_())
    assert rows[0] == ["layer", "type", "output shape", "params", "MACs", "act. bytes", "saved", "RF", "RF stride"]
    # conv2d_1: 20·1·5·5 + 20 = 520 params; 20·28·28 · 1·5·5 = 392,000 MACs; 20·28·28 · 4 B = 62,720 B out;
    # it saves its input for the weight gradient: 1·28·28 · 4 B = 3,136 B; RF 5×5, stride 1×1
    assert rows[1] == ["conv2d_1", "Conv2d", "1×20×28×28", "520", "392,000", "62,720", "3,136", "5×5", "1×1"]
    assert all(len(r) == len(rows[0]) for r in rows[1:-1])


def test_convention_shows_the_tool_column_in_a_notebook():
    r = cs.analyze("zoo:lenet5")
    c = r.convention("torchinfo")
    assert c.total == 6_547_990 and c.report is r   # the figures stay the object's; the views add the table
    rows = _html_table(c._repr_html_())
    assert rows[0][4:6] == ["MACs", "torchinfo mult-adds"]
    theirs = {row[0]: row[5] for row in rows[1:]}
    # torchinfo: a conv pays (weight + bias) × output positions, a Linear (weight + bias) × output rows,
    # a module without weight/bias nothing ("-")
    assert theirs["conv2d_1"] == "407,680"      # 520 × 28·28
    assert theirs["conv2d_2"] == "4,909,800"    # (50·20·5·5 + 50 = 25,050) × 14·14
    assert theirs["linear_1"] == "1,225,500"    # (2450·500 + 500) × 1
    assert theirs["linear_2"] == "5,010"        # (500·10 + 10) × 1
    assert theirs["relu_1"] == theirs["maxpool2d_1"] == theirs["flatten_1"] == "-"
    assert theirs["total"] == "6,547,990"       # 407,680 + 4,909,800 + 1,225,500 + 5,010
    assert rows[1][:5] == ["conv2d_1", "Conv2d", "1×20×28×28", "520", "392,000"]   # convshape's own MACs stay
    html = c._repr_html_()
    assert "<b>torchinfo</b>: mult-adds 6,547,990" in html
    assert "<li>not counted by torchinfo (-): ReLU, MaxPool2d, Flatten: no weight or bias parameters" in html
    md = c._repr_markdown_()
    assert md == markdown.render(r, convention=c)
    assert "| linear_1 | Linear | 1×500 | 1,225,500 | 1,225,000 | 1,225,500 |" in md
    assert "\n- not counted by torchinfo (-): ReLU, MaxPool2d, Flatten:" in md   # a bullet, not an empty label
    text = str(c)
    total = next(line for line in text.splitlines() if line.startswith("│ total"))
    assert "6,522,000" in total and "6,547,990" in total and "\x1b[" not in text
    assert "report=" not in repr(c)   # the repr stays the figures


def test_to_dataframe():
    pd = pytest.importorskip("pandas")
    r = cs.analyze("zoo:lenet5")
    df = r.to_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df.index) == [x.name for x in r.layers]
    assert df.loc["conv2d_1", "params"] == 20 * 1 * 5 * 5 + 20   # 520
    assert df["params"].sum() == r.totals.params


def test_to_dataframe_without_pandas_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        cs.analyze("zoo:lenet5").to_dataframe()


def test_torch_api_without_torch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="needs PyTorch"):
        cs.to_torch  # noqa: B018


def test_wrong_rank_is_refused_by_name():
    with pytest.raises(SpecError, match=r"the network takes N,C,H,W \(declared 1,3,224,224\); input_shape has 3"):
        cs.analyze("zoo:resnet18", "1,3,224")


def test_namespace_and_help():
    assert [n for n in dir(cs) if n.startswith("_") and not n.startswith("__")] == []
    assert set(dir(cs)) == set(cs.__all__)
    assert "convshape.analyze(" in cs.__doc__ and "at(N=1, H=224, W=224)" in cs.__doc__
    assert "Report" in cs.analyze.__doc__
