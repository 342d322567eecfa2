"""`convshape run` on networks built from the algebra and attention kinds: two specs through the CLI,
torchvision's ViT, Swin (V1, V2) and MaxViT imported at a small size, and the reference kernels
chained over a whole imported network against the torchvision model itself (same weights)."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from click.testing import CliRunner  # noqa: E402
from torchvision.models import swin_transformer as swin  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.cli import main  # noqa: E402
from convshape.executor import KERNELS, run  # noqa: E402
from convshape.executor import calibrate as cal  # noqa: E402
from convshape.executor.runner import Settings, _state, build_module, rel_error  # noqa: E402
from convshape.graph import INPUT  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402
from convshape.torch.importer import from_torch  # noqa: E402

TRANSFORMER = """
name: tiny_transformer
input: [2, 3, 16, 20]
layers:
  - {Conv2d: {out_channels: 8, kernel_size: 2, stride: 2}, name: patch}
  - {Permute: {dims: [0, 2, 3, 1]}, name: channels_last}
  - {FrozenBatchNorm2d, name: frozen, inputs: patch}
  - {Permute: {dims: [0, 2, 3, 1]}, name: frozen_last}
  - {Add, inputs: [channels_last, frozen_last], name: stem}
  - {LayerNorm: {normalized_shape: 8}, name: norm1}
  - {ShiftedWindowAttention: {window_size: 4, shift_size: 0, num_heads: 2}, name: attn1}
  - {Add, inputs: [stem, attn1], name: res1}
  - {ShiftedWindowAttentionV2: {window_size: 4, shift_size: 2, num_heads: 2}, name: attn2}
  - {Add, inputs: [res1, attn2], name: res2}
  - {PatchMerging, name: merge}
  - {Flatten: {start_dim: 1, end_dim: 2}, name: tokens}
  - {ParamConcat: {shape: [1, 1, 16]}, name: class_token}
  - {ParamArith: {op: add, shape: [1, 21, 16]}, name: pos_embedding}
  - {MultiheadAttention: {embed_dim: 16, num_heads: 4, batch_first: true}, name: mha}
  - {Add, inputs: [pos_embedding, mha], name: res3}
  - {Index: {index: [[null, null, null], 0]}, name: cls}
  - {Linear: {out_features: 5}, name: head}
"""

ALGEBRA = """
name: algebra
input: [2, 4, 6, 6]
layers:
  - {FixedConv2d: {out_channels: 4, kernel_size: 3, padding: 1, groups: 4}, name: blur}
  - {Sub, inputs: [input, blur], name: detail}
  - {UnaryOp: {fn: square}, name: sq}
  - {Reduce: {op: mean, dim: 1, keepdim: true}, name: ms}
  - {ScalarArith: {op: add, value: 1.0e-5}, name: ms_eps}
  - {UnaryOp: {fn: rsqrt}, name: inv_rms}
  - {Mul, inputs: [detail, inv_rms], name: rms}
  - {ParamArith: {op: mul, shape: [1, 4, 1, 1]}, name: gain}
  - {Maximum, inputs: [gain, blur], name: hi}
  - {Minimum, inputs: [gain, blur], name: lo}
  - {Div, inputs: [hi, lo], name: ratio}
  - {Stack: {dim: 1}, inputs: [hi, lo, ratio], name: branches}
  - {Reduce: {op: sum, dim: 1}, name: branch_sum}
  - {Flatten: {start_dim: 2}, name: seq}
  - {Unsqueeze: {dim: 1}, name: one_head}
  - {ScaledDotProductAttention, inputs: [one_head, one_head, one_head], name: sdpa}
  - {Squeeze: {dim: 1}, name: squeezed}
  - {Permute: {dims: [0, 2, 1]}, name: seq_t}
  - {MatMul, inputs: [squeezed, seq_t], name: gram}
  - {Reduce: {op: amax, dim: -1}, name: peak}
"""

# the 25 kinds of the import-coverage work: each one is run by the specs or the imported models below
NEW_KINDS = {"Div", "FixedConv2d", "FrozenBatchNorm2d", "Index", "MatMul", "Maximum", "Minimum",
             "MultiheadAttention", "ParamArith", "ParamConcat", "PatchMerging", "PatchMergingV2", "Reduce",
             "RelativePositionalMultiHeadAttention", "ScalarArith", "ScaledDotProductAttention",
             "ShiftedWindowAttention", "ShiftedWindowAttentionV2", "Squeeze", "Stack", "Sub", "UnaryOp", "Unsqueeze"}


def vit():
    return torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2,
                                                hidden_dim=8, mlp_dim=16, num_classes=3), (2, 3, 32, 32)


def swin_v1():
    return swin.SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2], num_heads=[1, 2],
                                window_size=[4, 4], num_classes=3), (1, 3, 32, 32)


def swin_v2():
    return swin.SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2], num_heads=[1, 2], window_size=[4, 4],
                                num_classes=3, block=swin.SwinTransformerBlockV2,
                                downsample_layer=swin.PatchMergingV2), (1, 3, 32, 32)


def maxvit():
    return torchvision.models.MaxVit(input_size=(32, 32), stem_channels=8, partition_size=2, block_channels=[8],
                                     block_layers=[1], head_dim=4, stochastic_depth_prob=0.0,
                                     num_classes=3), (1, 3, 32, 32)


MODELS = {"vit": vit, "swin": swin_v1, "swin_v2": swin_v2, "maxvit": maxvit}


@pytest.fixture(scope="module")
def calibration():
    return cal.measure(torch.device("cpu"), dtypes=("float64", "float32", "bfloat16", "float16"))


@pytest.fixture()
def cache(tmp_path, monkeypatch, calibration):
    monkeypatch.setenv(cal.CACHE_ENV, str(tmp_path))
    cal.save(calibration)
    return tmp_path


def test_the_specs_and_models_run_every_new_kind():
    kinds = {n.kind for spec in (TRANSFORMER, ALGEBRA) for n in cs.loads(spec).nodes}
    for make in MODELS.values():
        m, shape = make()
        kinds |= {n.kind for n in from_torch(m, shape).nodes}
    assert NEW_KINDS <= kinds, sorted(NEW_KINDS - kinds)
    # FixedConv1d and FixedConv3d share FixedConv2d's kernel; the kernel test covers every rank
    assert KERNELS["FixedConv1d"] is KERNELS["FixedConv2d"] is KERNELS["FixedConv3d"] is KERNELS["Conv2d"]


@pytest.mark.parametrize("spec", [TRANSFORMER, ALGEBRA], ids=["transformer", "algebra"])
def test_cli_run_confirms_every_layer_in_float64(spec, cache, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(spec)
    result = CliRunner().invoke(main, ["run", str(path), "--dtype", "float64", "--repeats", "0", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    network = cs.loads(spec)
    report = cs.analyze(network, dtype="float64")
    assert data["totals"]["confirmed"] == data["totals"]["layers"] == len(network.nodes)
    for layer, predicted in zip(data["layers"], report.layers):
        assert layer["output_shape"] == list(predicted.output_shape) == layer["predicted_shape"]
        assert layer["max_rel_error"] <= 1e-10
    # live tensor storages, measured over the memory pass, equal the liveness schedule of the prediction
    assert data["totals"]["peak_memory_bytes"] == data["totals"]["predicted_peak_bytes"]


def test_algebra_memory_figures_exact(calibration):
    network = cs.loads(ALGEBRA)
    result = run(network, dtype="float64", repeats=0, calibration=calibration)
    # parameters: gain's 4; buffers: blur's depthwise 4*1*3*3 = 36; (4 + 36) * 8 B = 320.
    # Largest live set: Stack writing 2*3*4*6*6 = 864 elements while hi, lo and ratio (2*4*6*6 = 288
    # each) are alive: 864 + 3 * 288 = 1_728 elements * 8 B = 13_824.  320 + 13_824 = 14_144
    assert result.totals.predicted_peak_bytes == 14_144
    assert result.totals.peak_memory_bytes == 14_144
    # Flatten, Unsqueeze, Squeeze and Permute return views of their input: they move no bytes
    views = {r.name for r in result.layers if r.bytes == 0}
    assert views == {"seq", "one_head", "squeezed", "seq_t"}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("spec", [TRANSFORMER, ALGEBRA], ids=["transformer", "algebra"])
def test_lower_precision_within_tolerance(spec, dtype, calibration):
    result = run(cs.loads(spec), dtype=dtype, repeats=0, calibration=calibration)
    assert result.totals.confirmed == result.totals.layers, [(r.name, r.error) for r in result.layers if r.error]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_imported_model_confirmed(name, calibration):
    m, shape = MODELS[name]()
    network = from_torch(m.eval(), shape)
    result = run(network, dtype="float64", repeats=0, calibration=calibration)
    assert result.totals.confirmed == result.totals.layers == len(network.nodes), \
        [(r.name, r.error) for r in result.layers if r.error]
    assert max(r.max_rel_error for r in result.layers) <= 1e-10
    assert result.totals.peak_memory_bytes == result.totals.predicted_peak_bytes


# int64 buffer entries, which both predictions count at the run's dtype width (as BatchNorm's counter)
INT64_ENTRIES = {
    "vit": 0,
    "swin": 4 * 16 * 16,       # 4 blocks, relative_position_index of a 4x4 window: 16 x 16 = 1_024
    "swin_v2": 4 * 16 * 16,    # the same index in V2's 4 blocks
    "maxvit": 2 * 4 * 4 + 4,   # window and grid attention over 2x2 partitions: 4 x 4 each; 4 BatchNorm counters
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_float32_peak_memory_differs_by_the_int64_buffers_only(name, calibration):
    m, shape = MODELS[name]()
    network = from_torch(m.eval(), shape)
    result = run(network, dtype="float32", repeats=0, calibration=calibration)
    entries = sum(b.numel() for b in m.buffers() if b.dtype == torch.int64)
    assert entries == INT64_ENTRIES[name]
    # each int64 entry holds 8 B where the prediction counts float32's 4: swin 1_024 * 4 = 4_096 B
    assert result.totals.peak_memory_bytes - result.totals.predicted_peak_bytes == 4 * entries


def _redraw_constants(module, gen):
    """Tensors torch initializes to one value (norm scales, shifts, class token) drawn around it."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point() and t.numel() and bool((t == t.flatten()[0]).all()):
                c = float(t.flatten()[0])
                t.copy_(c + max(abs(c), 1.0) * (torch.rand(t.shape, generator=gen, dtype=t.dtype) - 0.5))


# the importer names ViT's class token, position embedding and attention by their kinds
VIT_NAMES = {"class_token": "paramconcat_1.token", "encoder.pos_embedding": "encoder.paramarith_1.t"}


def _vit_key(key: str) -> str:
    return VIT_NAMES.get(key, key.replace(".self_attention.", ".multiheadattention_1."))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_kernels_chained_match_the_torchvision_model(name):
    """Only kernels from input to output (no torch output fed in between), against the model itself."""
    m, shape = MODELS[name]()
    m = m.double().eval()
    _redraw_constants(m, torch.Generator().manual_seed(0))
    network = from_torch(m, shape)
    built = cs.to_torch(network).double().eval()
    weights = m.state_dict()
    if name == "vit":
        weights = {_vit_key(k): v for k, v in weights.items()}
    built.load_state_dict(weights)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        values = {INPUT: x}
        for node in network.nodes:
            state = _state(built.node_module(node.name))
            values[node.name] = KERNELS[node.kind](node.layer, [values[i] for i in node.inputs], state)
        expected = m(x)
    got = values[network.output_names[0]]
    assert got.shape == expected.shape
    assert float(rel_error(got, expected)) <= 1e-10


def test_swin_v2_float16_nan_windows_are_torchs():
    """In float16 F.normalize's eps (1e-12) rounds to 0, so a padded token's zero key (V2 has no key
    bias) is 0/0 in torch: whole windows come out NaN. The reference gives NaN at the same places."""
    layer = REGISTRY["ShiftedWindowAttentionV2"](window_size=4, shift_size=2, num_heads=2)
    settings = Settings(device=torch.device("cpu"), dtype=torch.float16, repeats=0, warmup=0, channels_last=False)
    torch.manual_seed(0)
    module = build_module(layer, [(2, 8, 10, 8)], settings)   # W = 10 pads to 12: windows hold zero tokens
    x = torch.randn(2, 8, 10, 8, dtype=torch.float16)
    with torch.no_grad():
        expected = module(x)
        got = KERNELS[layer.kind](layer, [x], _state(module))
    # W pads 10 -> 12 and rolls by -2: the padded columns land in the last window column (rolled cols
    # 8..11 = cols 10, 11, 0, 1), 2 windows per image; after the roll back and the crop, cols 0 and 1
    # of those windows remain: 2 images * 8 rows * 2 cols * 8 channels = 256 NaN
    assert int(expected.isnan().sum()) == 256
    assert torch.equal(got.isnan(), expected.isnan())
    assert float(rel_error(got, expected)) <= 1e-2
