"""timm EdgeNeXt's pieces import exactly: PositionalEncodingFourier, a leaf kind read for its input's shape."""
import pytest

torch = pytest.importorskip("torch")
edgenext = pytest.importorskip("timm.models.edgenext")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402
from convshape.torch import modules  # noqa: E402
from convshape.torch.importer import UnmappedOps, from_torch  # noqa: E402
from convshape.torch.spec_writer import to_yaml  # noqa: E402


def test_the_built_module_computes_what_timm_computes():
    ours, theirs = modules.PositionalEncodingFourier(4, 6), edgenext.PositionalEncodingFourier(4, 6)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(ours(x), theirs((2, 5, 7)))  # timm takes the (B, H, W) tuple, ours the tensor


def test_counts_against_torch():
    layer = REGISTRY["PositionalEncodingFourier"](hidden_dim=32, dim=48)
    x = (1, 48, 14, 14)
    out = layer.output_shape([x])
    assert out == (1, 48, 14, 14)
    m = edgenext.PositionalEncodingFourier(32, 48)
    assert layer.params([x]).trainable == sum(p.numel() for p in m.parameters()) == 3120  # 64*48 + 48
    with FlopCounterMode(display=False) as fc:
        m((1, 14, 14))
    # the 1x1 projection only: 196 positions * 64 features * 48 channels = 602_112 MACs, 2x as FLOPs
    assert layer.macs([x], out) == fc.get_total_flops() // 2 == 602_112
    # n = 196, k = 32: cumsums 2*(196 - 14) = 364; + eps 14 + 14, divide and * 2pi 4*196 (812);
    # frequencies 4*32 = 128; / frequency and sin or cos 4*196*32 = 25_088; bias 196*48 = 9_408
    assert layer.other_ops([x], out) == 364 + 812 + 128 + 25_088 + 9_408


def test_a_split_transpose_block_imports_exactly_with_its_positional_encoding():
    m = edgenext.SplitTransposeBlock(48, num_scales=2, num_heads=4).eval()
    x = (1, 48, 7, 7)
    net = from_torch(m, x)
    pos = [n for n in net.nodes if n.kind == "PositionalEncodingFourier"]
    assert len(pos) == 1 and pos[0].layer.written_args() == {"hidden_dim": 32, "dim": 48, "temperature": 10000.0}
    r = cs.analyze(net)
    assert r.totals.params == sum(p.numel() for p in m.parameters())
    with FlopCounterMode(display=False) as fc:
        m(torch.randn(x))
    assert r.totals.macs == fc.get_total_flops() // 2
    again = cs.analyze(cs.loads(to_yaml(net)))  # the written spec reads back alike
    assert (again.totals.params, again.totals.macs, again.totals.other_ops) == \
        (r.totals.params, r.totals.macs, r.totals.other_ops)


class TwoSources(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.pos_embd = edgenext.PositionalEncodingFourier(4, 8)

    def forward(self, x):
        y = self.conv(x)
        return y + self.pos_embd((x.shape[0], y.shape[2], y.shape[3]))


def test_sizes_read_from_two_tensors_are_refused_by_name():
    with pytest.raises(UnmappedOps, match="PositionalEncodingFourier called on sizes read from 2 tensors"):
        from_torch(TwoSources().eval(), (1, 8, 6, 6))


SPEC = """
name: pos
input: [1, 8, 6, 6]
layers:
- Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  name: conv
- PositionalEncodingFourier: {hidden_dim: 4, dim: 8}
  name: pos
- Add:
  inputs: [conv, pos]
"""


def test_the_encoding_reads_no_input_position_and_does_not_widen_the_field():
    r = cs.analyze(cs.loads(SPEC))
    rows = {x.name: x for x in r.layers}
    assert rows["pos"].receptive_field.size == (0, 0)  # an empty field: it reads the shape only
    assert rows["add_1"].receptive_field.size == rows["conv"].receptive_field.size == (3, 3)  # the conv's 3x3
    # backward: the projection's weight gradient only, 36 positions * 8 features * 8 channels = 2_304 MACs
    assert REGISTRY["PositionalEncodingFourier"](hidden_dim=4, dim=8).backward_macs(
        [(1, 8, 6, 6)], (1, 8, 6, 6), input_requires_grad=True) == 2_304


def test_check_agrees_with_torch_on_every_figure_and_the_probed_field():
    from convshape.torch.check import check
    result = check(cs.loads(SPEC), rf_layers="all")
    assert result.ok, result.mismatches


class EagerOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos_embd = edgenext.PositionalEncodingFourier(4, 8)

    def forward(self, x):
        if x.shape[2] > 1:  # Python control flow on a size: fx fails, the eager tracer sees plain ints
            x = x + self.pos_embd((x.shape[0], x.shape[2], x.shape[3]))
        return x


def test_sizes_the_eager_tracer_cannot_follow_are_refused_by_name():
    with pytest.raises(UnmappedOps, match="PositionalEncodingFourier called on sizes that are not read from a traced"):
        from_torch(EagerOnly().eval(), (1, 8, 6, 6))


@pytest.mark.parametrize("dtype, width", [(torch.float64, 8), (torch.bfloat16, 2)])
def test_memory_rules_in_a_weight_dtype_other_than_float32(dtype, width):
    """timm computes the features in float32 and casts them to the weight's dtype: the cast is what the
    projection saves, and a temporary beside the float32 ones (tests/test_memory_contract.py: float32)."""
    from convshape.memory import SAVED, Grads
    from convshape.memory.rules import temporaries
    from convshape.torch.memtrack import LiveStorages, resident_tensors
    layer, shape = REGISTRY["PositionalEncodingFourier"](hidden_dim=4, dim=6), (2, 3, 5, 7)
    m = layer.to_torch([shape]).to(dtype)
    x = torch.randn(shape, dtype=dtype)
    kept = {}
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.setdefault(t.untyped_storage().data_ptr(), t),
                                                  lambda t: t):
        m(x)
    params = {p.untyped_storage().data_ptr() for p in m.parameters()}
    want = sum(t.untyped_storage().nbytes() for ptr, t in kept.items() if ptr not in params)
    saved = SAVED[layer.kind](layer, [shape], (2, 6, 5, 7), Grads((False,), True, True), width)
    assert sum(saved.extra) == want == 2 * 70 * 4 * width  # the cast features: 2*5*7 positions * 2*4 features
    with torch.no_grad(), LiveStorages(resident_tensors(m) + [x]) as mode:
        base = mode.current
        out = m(x)
        out_bytes = out.untyped_storage().nbytes()
        del out
    # n = 70, k = 4: 9n + 4k + 16nk float32 bytes, + the cast 2nk * width (float64 9_606, bfloat16 6_246)
    assert temporaries(layer, [shape], (2, 6, 5, 7), width) == mode.peak - base - out_bytes \
        == 9 * 70 + 4 * 4 + 16 * 70 * 4 + 2 * 70 * 4 * width


def test_check_of_an_imported_block_compares_like_with_like():
    """check builds a module from the imported graph, which frees each value after its last reader:
    its inference peak is compared with the plain schedule, not the one with the imported module's
    frames (a caller holding its argument), which had said 221,008 B against torch's 211,600."""
    from convshape.torch.check import check
    m = edgenext.SplitTransposeBlock(48, num_scales=2, num_heads=4)
    result = check(from_torch(m, (1, 48, 7, 7)))
    assert result.ok, result.mismatches
