"""convshape check: predictions against live torch modules; the RF probe proven on known cases."""
import json

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.cli import main  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402
from convshape.torch.check import check, sample_sizes  # noqa: E402
from convshape.torch.flops import KNOWN_COUNTER_ERRORS, isolated_flops, known_error  # noqa: E402
from convshape.torch.probe import probe  # noqa: E402


# ---------------------------------------------------------------- the receptive-field probe
@pytest.mark.parametrize("layers", [1, 2, 3, 5])
def test_probe_stacked_3x3_convs_see_1_plus_2L(layers):
    m = nn.Sequential(*[nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU()) for _ in range(layers)])
    # centre unit of a 31x31 map is 15; the field is 1 + L*(3-1) wide around it
    assert probe(m, (1, 2, 31, 31)) == [(15 - layers, 15 + layers)] * 2


def test_probe_dilation_and_stride():
    # 3x3 dilated by 2 spans 5: centre 15 reads 13..17
    assert probe(nn.Conv2d(1, 1, 3, dilation=2, padding=2), (1, 1, 31, 31)) == [(13, 17)] * 2
    # 3x3/2 then 3x3: size 3 + (3-1)*2 = 7, stride 2, padding 1 + 1*2 = 3; centre unit 7: 14-3 .. 14+3
    m = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3, padding=1))
    assert probe(m, (1, 1, 31, 31)) == [(11, 17)] * 2


def test_probe_is_not_fooled_by_max_pool_routing_or_dead_relus():
    # A max pool passes gradient to one position per window, and ReLU(-x) passes none: the plain
    # gradient sees a single input position, the theoretical field is the whole 3x3 window.
    m = nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, stride=1))
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0
    x.requires_grad_(True)
    m(x)[0, 0, 0, 0].backward()
    assert int((x.grad != 0).sum()) == 1                       # the effective field: one position
    assert probe(m, (1, 1, 3, 3)) == [(0, 2), (0, 2)]          # the theoretical field: all nine
    dead = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(), nn.Conv2d(1, 1, 3, padding=1))
    with torch.no_grad():
        dead[0].weight.fill_(-1.0)
        dead[0].bias.fill_(-1.0)                                # ReLU is off everywhere
    assert probe(dead, (1, 1, 9, 9)) == [(2, 6), (2, 6)]       # 1 + 2*2 = 5 around centre 4


def test_probe_max_pool_with_dilation_and_ceil_mode():
    # 32 -> ceil((32+2-5)/2)+1 = 16 (last window starts at 30 < 33); then 3x3 valid -> 14, centre 6
    # field: size 5 + 2*2 = 9, stride 2, padding 1: 6*2 - 1 = 11 .. 19
    m = nn.Sequential(nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True), nn.Conv2d(1, 1, 3))
    assert probe(m, (1, 1, 32, 32)) == [(11, 19)] * 2


def test_probe_global_pool_sees_everything():
    m = nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveMaxPool2d(1))
    assert probe(m, (1, 1, 10, 12)) == [(0, 9), (0, 11)]


def _gated_spec(blocks: int) -> str:
    body = "\n".join(f"""  - Conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
    name: c{i}
  - AdaptiveAvgPool2d: {{output_size: 1}}
  - Conv2d: {{out_channels: 8, kernel_size: 1}}
  - Sigmoid
  - Mul:
    inputs: [c{i}, sigmoid_{i + 1}]
  - Permute: {{dims: [0, 2, 3, 1]}}
  - LayerNorm: {{normalized_shape: 8}}
  - Permute: {{dims: [0, 3, 1, 2]}}""" for i in range(blocks))
    return "input: [1, 8, 24, 24]\nlayers:\n" + body + "\n"


def test_probe_through_deep_gates_and_channel_layernorm():
    # 25 squeeze-excitation products would square magnitudes 25 times (overflow to inf, then NaN
    # gradients everywhere); a plain sum over LayerNorm's channels is constant (zero gradient)
    r = check(cs.loads(_gated_spec(25)), rf_layers="all", sizes=False, real=False)
    assert r.ok, [m.to_dict() for m in r.mismatches[:3]]
    assert not any("not probed" in n for n in r.notes)
    assert r.compared["receptive_field"] == 2 * 25 * 8  # every layer, both axes


# ---------------------------------------------------------------- torch's counter, where it is wrong
@pytest.mark.parametrize("cls", [nn.Conv2d, nn.ConvTranspose2d, nn.Conv1d])
def test_torch_counter_overcounts_grouped_conv_backward_and_our_independent_count_does_not(cls):
    groups = 8
    m = cls(16, 32, 3, padding=1, groups=groups)
    shape = (1, 16) + (10,) * (2 if cls is not nn.Conv1d else 1)
    x = torch.empty(shape, device="meta", requires_grad=True)
    fwd, bwd = isolated_flops(m.to("meta"), [x])
    err = known_error(m)
    assert err is KNOWN_COUNTER_ERRORS[0]
    # torch charges the weight gradient as if groups were 1: (1 + g) x forward instead of 2 x
    assert bwd == (1 + groups) * fwd
    assert err.independent(m, shape, True) == 2 * fwd       # weight grad + input grad
    assert err.independent(m, shape, False) == fwd          # weight grad only
    assert known_error(cls(16, 32, 3)) is None               # dense convs are counted right


# ---------------------------------------------------------------- check on specs
SMALL = """
name: small
input: [1, 3, 20, 20]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
    name: stem
  - BatchNorm2d
  - ReLU
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1, groups: 4}
    name: grouped
  - Add:
    inputs: [stem, grouped]
  - MaxPool2d: {kernel_size: 3, stride: 2, ceil_mode: true}
  - AdaptiveAvgPool2d: {output_size: 1}
  - Flatten
  - Linear: {out_features: 5}
"""


def test_check_small_graph_agrees_on_every_metric():
    r = check(cs.loads(SMALL), rf_layers="all")
    assert r.ok, r.mismatches
    assert r.layers == 9
    for metric in ("output_shape", "output_shape(real)", "params", "buffers", "flops", "flops_backward",
                   "receptive_field", "output_shape(symbolic)", "flops(symbolic)", "validity"):
        assert r.compared[metric] > 0, metric
    assert any(n.startswith("grouped-conv-backward") for n in r.notes)
    # minimal valid size 3: stem (3+2-3)//2+1 = 2, then the 3x3/2 ceil-mode pool keeps one window;
    # at 2 the stem gives 1 and the pool has none (both convshape and torch reject it)
    assert r.sizes[:3] == [((1, 3, 3, 3), True), ((1, 3, 4, 4), True), ((1, 3, 2, 2), False)]
    # then 21 (odd), 22 (even), 23 (prime), 23x22 (non-square), batch 2
    assert [s for s, _ in r.sizes[3:]] == [(1, 3, 21, 21), (1, 3, 22, 22), (1, 3, 23, 23), (1, 3, 23, 22),
                                            (2, 3, 20, 20)]


def test_check_reports_a_wrong_rule(monkeypatch):
    conv = REGISTRY["Conv2d"]
    right = conv.macs
    monkeypatch.setattr(conv, "macs", lambda self, inputs, output: right(self, inputs, output) + 1)
    r = check(cs.loads(SMALL), rf_layers=0, sizes=False)
    assert not r.ok
    assert {(m.layer, m.metric) for m in r.mismatches} >= {("stem", "flops"), ("grouped", "flops")}
    stem = next(m for m in r.mismatches if m.layer == "stem" and m.metric == "flops")
    # 8 * 10*10 * 3*3*3 = 21_600 MACs; one extra MAC is two FLOPs
    assert (stem.expected, stem.actual) == (2 * 21_601, 2 * 21_600)


def test_check_reports_a_wrong_receptive_field(monkeypatch):
    from convshape.layers.base import Window
    conv = REGISTRY["Conv2d"]
    monkeypatch.setattr(conv, "receptive_field",
                        lambda self, inputs, output: Window(kernel=(5, 5), stride=self.s(), padding=(1, 1)))
    r = check(cs.loads(SMALL), rf_layers="all", sizes=False, real=False)
    assert any(m.metric == "receptive_field" and m.layer == "stem" for m in r.mismatches)


def test_validity_at_the_boundary_agrees_with_torch():
    net = cs.loads("""
input: [1, 1, 12, 12]
layers:
  - Conv2d: {out_channels: 2, kernel_size: 5}
  - MaxPool2d: {kernel_size: 2}
  - Conv2d: {out_channels: 2, kernel_size: 3}
""")
    # minimal: L - 4 >= 2 after the first conv... (L-4)//2 >= 3  ->  L >= 10; 9 must fail in torch too
    sizes = sample_sizes(net, (1, 1, 12, 12))
    assert (1, 1, 10, 10) in sizes and (1, 1, 9, 9) in sizes
    r = check(net, rf_layers=0)
    assert r.ok, r.mismatches
    assert ((1, 1, 9, 9), False) in r.sizes


def test_fields_downstream_of_an_up_convolution_are_bounds():
    # a U-Net's decoder: which inputs an output reads depends on its position modulo the transposed
    # conv's stride, so the composed field is an upper bound there (at 224 the exact comparison
    # failed: up1's centre unit reads 34..189, the composed field says 26..189)
    from convshape.torch.check import _axis_states
    net = cs.load("zoo:unet")
    states, approx = _axis_states(net, cs.analyze(net, (1, 3, 64, 64)))
    decoder = [n.name for n in net.nodes if n.name.startswith(("up", "outc"))]
    encoder = [n.name for n in net.nodes if n.name.startswith(("inc", "down"))]
    assert decoder and set(decoder) <= approx and not set(encoder) & approx
    r = check(net, (1, 3, 64, 64), rf_layers="all", sizes=False, real=False)
    assert r.ok, [m.to_dict() for m in r.mismatches[:3]]
    assert r.compared["receptive_field"] == 2 * len(net.nodes)  # every layer, both axes


def _small_input(net):
    shape = tuple(net.input_shape)
    small = shape[:2] + tuple(min(d, 64) for d in shape[2:])
    try:
        cs.analyze(net, small)
        return small
    except cs.ShapeError:
        return shape


@pytest.mark.parametrize("name", cs.zoo_names())
def test_check_passes_for_every_zoo_network_at_a_small_input(name):
    net = cs.load("zoo:" + name)
    r = check(net, _small_input(net), rf_layers=4)
    assert r.ok, [m.to_dict() for m in r.mismatches[:5]]


@pytest.mark.slow
@pytest.mark.parametrize("name", cs.zoo_names())
def test_check_passes_for_every_zoo_network_at_224(name):
    net = cs.load("zoo:" + name)
    shape = (1, 3, 224, 224) if len(net.input_shape) == 4 and net.input_shape[1] == 3 else None
    r = check(net, shape)
    assert r.ok, [m.to_dict() for m in r.mismatches[:5]]


# ---------------------------------------------------------------- the command
def test_cli_check_json_and_exit_codes(tmp_path):
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    res = CliRunner().invoke(main, ["check", str(spec), "--format", "json", "--rf-layers", "2"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["ok"] is True and data["mismatches"] == [] and data["layers"] == 9
    res = CliRunner().invoke(main, ["check", str(spec), "--input", "1,3,1,1"])
    assert res.exit_code == 1  # invalid for this input (MaxPool's 3-window on a 1×1 map): one line, exit 1
    res = CliRunner().invoke(main, ["check", str(spec), "--input", "1,3,1"])
    assert res.exit_code == 2 and "the network takes N,C,H,W" in res.output  # another rank: a usage error
    res = CliRunner().invoke(main, ["check", str(spec), "--rf-layers", "many"])
    assert res.exit_code == 2


def test_cli_check_exits_1_on_a_mismatch(tmp_path, monkeypatch):
    conv = REGISTRY["Conv2d"]
    right = conv.params
    from convshape.layers.base import Params
    monkeypatch.setattr(conv, "params", lambda self, inputs: Params(trainable=right(self, inputs).trainable + 1))
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    res = CliRunner().invoke(main, ["check", str(spec), "--rf-layers", "0", "--no-sizes"])
    assert res.exit_code == 1
    assert "mismatch" in res.output and "stem" in res.output
