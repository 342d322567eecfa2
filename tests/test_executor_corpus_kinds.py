"""`convshape run` on the 8 kinds of the corpus work (StdConv1d..3d, ShiftedWindowAttention3d, Normalize,
TensorUnfold, LSTM, Expand): one spec holding all of them through the CLI in four dtypes, and timm's
nf_resnet26 (29 ScaledStdConv2d) imported at 32x32."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from click.testing import CliRunner  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.cli import main  # noqa: E402
from convshape.executor import run  # noqa: E402
from convshape.executor import calibrate as cal  # noqa: E402

CORPUS = """
name: corpus_kinds
input: [2, 3, 4, 8, 8]
layers:
  - {StdConv3d: {out_channels: 8, kernel_size: 3, padding: 1, gain: true}, name: stem}
  - {Permute: {dims: [0, 2, 3, 4, 1]}, name: channels_last}
  - {ShiftedWindowAttention3d: {window_size: [2, 4, 4], shift_size: [1, 2, 2], num_heads: 2}, name: attn}
  - {Add, inputs: [channels_last, attn], name: res}
  - {Permute: {dims: [0, 4, 1, 2, 3]}, name: channels_first}
  - {Flatten: {start_dim: 1, end_dim: 2}, name: frames}
  - {StdConv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}, name: down}
  - {Normalize: {dim: 1}, name: l2}
  - {Flatten: {start_dim: 2}, name: seq}
  - {StdConv1d: {out_channels: 6, kernel_size: 3, padding: 1, gain: true}, name: conv1d}
  - {TensorUnfold: {dimension: 2, size: 4, step: 2}, name: blocks}
  - {Permute: {dims: [0, 2, 1, 3]}, name: steps}
  - {Flatten: {start_dim: 2}, name: features}
  - {LSTM: {hidden_size: 5, num_layers: 2, batch_first: true, bidirectional: true, proj_size: 3}, name: lstm}
  - {Unsqueeze: {dim: 1}, name: one}
  - {Expand: {sizes: [-1, 3, -1, -1]}, name: copies}
  - {Linear: {out_features: 4}, name: head}
"""

CORPUS_KINDS = {"StdConv1d", "StdConv2d", "StdConv3d", "ShiftedWindowAttention3d", "Normalize", "TensorUnfold",
                "LSTM", "Expand"}


@pytest.fixture(scope="module")
def calibration():
    return cal.measure(torch.device("cpu"), dtypes=("float64", "float32", "bfloat16", "float16"))


@pytest.fixture()
def cache(tmp_path, monkeypatch, calibration):
    monkeypatch.setenv(cal.CACHE_ENV, str(tmp_path))
    cal.save(calibration)
    return tmp_path


def test_the_spec_holds_every_corpus_kind():
    assert {n.kind for n in cs.loads(CORPUS).nodes} >= CORPUS_KINDS


def test_cli_run_confirms_every_layer_in_float64(cache, tmp_path):
    path = tmp_path / "corpus.yaml"
    path.write_text(CORPUS)
    result = CliRunner().invoke(main, ["run", str(path), "--dtype", "float64", "--repeats", "0", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    report = cs.analyze(cs.loads(CORPUS), dtype="float64")
    assert data["totals"]["confirmed"] == data["totals"]["layers"] == 17
    for layer, predicted in zip(data["layers"], report.layers):
        assert layer["output_shape"] == list(predicted.output_shape) == layer["predicted_shape"]
        assert layer["max_rel_error"] <= 1e-10
    # Permute, contiguous Flatten, Unsqueeze, TensorUnfold and Expand return views: no bytes moved
    # (`features` flattens a permuted tensor, so torch copies there)
    views = {layer["name"] for layer in data["layers"] if layer["bytes"] == 0}
    assert views == {"channels_last", "channels_first", "frames", "seq", "blocks", "steps", "one", "copies"}
    # live storages measured over the memory pass equal the prediction's schedule; float64 has no int64 gap
    assert data["totals"]["peak_memory_bytes"] == data["totals"]["predicted_peak_bytes"]


@pytest.mark.parametrize("dtype, width", [("float32", 4), ("bfloat16", 2), ("float16", 2)])
def test_lower_precision_within_tolerance(dtype, width, calibration):
    result = run(cs.loads(CORPUS), dtype=dtype, repeats=0, calibration=calibration)
    assert result.totals.confirmed == result.totals.layers == 17, [(r.name, r.error) for r in result.layers if r.error]
    # attn's int64 relative_position_index of the full 2x4x4 window: 32 x 32 = 1_024 entries, 8 B each where
    # the prediction counts the dtype's width: float32 1_024 * (8 - 4) = 4_096 B, half 1_024 * 6 = 6_144 B
    assert result.totals.peak_memory_bytes - result.totals.predicted_peak_bytes == 1024 * (8 - width)


def test_timm_nf_resnet26_confirmed(calibration):
    timm = pytest.importorskip("timm")
    from convshape.torch.importer import from_torch
    model = timm.create_model("nf_resnet26", pretrained=False, num_classes=5).eval()
    network = from_torch(model, (1, 3, 32, 32))
    std = sum(type(m).__name__ == "ScaledStdConv2d" for m in model.modules())
    assert std == sum(n.kind == "StdConv2d" for n in network.nodes) == 29
    result = run(network, dtype="float64", repeats=0, calibration=calibration)
    assert result.totals.confirmed == result.totals.layers == len(network.nodes), \
        [(r.name, r.error) for r in result.layers if r.error]
    assert max(r.max_rel_error for r in result.layers) <= 1e-10
    assert result.totals.peak_memory_bytes == result.totals.predicted_peak_bytes   # no BatchNorm: no int64 counters


@pytest.mark.parametrize("channels_last", [False, True])
def test_run_redraws_constant_tensors_of_any_rank(channels_last):
    """StdConv's gain (4, 1, 1, 1) and ParamArith's operand (1, 3, 1) start as ones: the run draws them in
    [0.5, 1.5) (1 + max(|1|, 1) * U[-0.5, 0.5)), so the reference's product with them is exercised; the
    filter, already random, is left as torch drew it."""
    from convshape.executor.runner import Settings, build_module
    from convshape.layers import REGISTRY
    settings = Settings(torch.device("cpu"), torch.float64, repeats=0, warmup=0, channels_last=channels_last)
    std = REGISTRY["StdConv2d"](out_channels=4, kernel_size=3, gain=True)
    torch.manual_seed(0)
    module = build_module(std, [(1, 3, 8, 8)], settings)
    torch.manual_seed(0)
    fresh = std.to_torch([(1, 3, 8, 8)])
    assert torch.equal(module.weight.double(), fresh.weight.double())
    assert module.gain.shape == (4, 1, 1, 1) and len(set(module.gain.flatten().tolist())) == 4
    assert bool(((module.gain >= 0.5) & (module.gain < 1.5)).all())
    arith = build_module(REGISTRY["ParamArith"](op="mul", shape=(1, 3, 1)), [(2, 3, 4)], settings)
    assert len(set(arith.t.flatten().tolist())) == 3
