"""`convshape run` on CPU: every zoo network confirmed at a small size, deliberately wrong rules and
kernels caught, the JSON contract, memory figures, sweeps, and exit codes."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from click.testing import CliRunner  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.cli import main  # noqa: E402
from convshape.errors import ShapeError, SpecError  # noqa: E402
from convshape.executor import KERNELS, run  # noqa: E402
from convshape.executor import calibrate as cal  # noqa: E402
from convshape.executor.runner import predicted_peak_bytes, rel_error  # noqa: E402
from convshape.executor.sweep import parse_sweep, sweep  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402

SMALL = """
name: small
input: [2, 3, 16, 16]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
  - BatchNorm2d
  - ReLU
  - MaxPool2d: {kernel_size: 2}
  - Conv2d: {out_channels: 6, kernel_size: 3}
  - AdaptiveAvgPool2d: {output_size: 1}
  - Flatten
  - Linear: {out_features: 5}
"""


@pytest.fixture(scope="module")
def calibration():
    """Measured once here (the roofline needs figures; none are written down anywhere)."""
    return cal.measure(torch.device("cpu"), dtypes=("float64", "float32"))


@pytest.fixture()
def cache(tmp_path, monkeypatch, calibration):
    """A private calibration cache holding this machine's figures, for the CLI."""
    monkeypatch.setenv(cal.CACHE_ENV, str(tmp_path))
    cal.save(calibration)
    return tmp_path


def cli(*args):
    return CliRunner().invoke(main, list(args))


def small_input(network):
    """Batch 1 and the smallest of 32, 64 for the spatial dims where the spec is valid; else its own input."""
    shape = list(network.input_shape)
    for side in (32, 64):
        small = tuple([1] + shape[1:2] + [min(d, side) for d in shape[2:]])
        try:
            cs.analyze(network, small)
            return small
        except ShapeError:
            continue
    return (1,) + tuple(shape[1:])


# ---------------------------------------------------------------- the zoo, small, in float64
@pytest.mark.parametrize("name", cs.zoo_names())
def test_zoo_network_confirmed_on_cpu(name, calibration):
    network = cs.load(f"zoo:{name}")
    shape = small_input(network)
    report = run(network, shape, dtype="float64", repeats=0, calibration=calibration)   # check, no timing
    bad = [(r.name, r.error) for r in report.layers if not r.confirmed]
    assert not bad
    assert report.totals.confirmed == report.totals.layers == len(network.nodes)
    assert report.layers[-1].output_shape == tuple(cs.analyze(network, shape).output_shape)
    assert max(r.max_rel_error for r in report.layers) <= 1e-10


# ---------------------------------------------------------------- what the executor must catch
def test_wrong_shape_rule_is_caught(monkeypatch, calibration):
    """MaxPool2d made to predict one column too many: that layer and every later prediction that
    inherits it are unconfirmed; the global pool restores the true shape and is confirmed again."""
    def wrong(self, inputs):
        n, c, h, w = inputs[0]
        return (n, c, h // 2, w // 2 + 1)
    monkeypatch.setattr(REGISTRY["MaxPool2d"], "output_shape", wrong)
    report = run(cs.loads(SMALL), dtype="float64", repeats=1, warmup=0, calibration=calibration)
    status = {r.type: r.confirmed for r in report.layers}
    assert status == {"Conv2d": False, "BatchNorm2d": True, "ReLU": True, "MaxPool2d": False,
                      "AdaptiveAvgPool2d": True, "Flatten": True, "Linear": True}
    pool = report.layers[3]
    assert pool.error == "predicted [2, 4, 8, 9], torch gives [2, 4, 8, 8]"   # 16 // 2 = 8, plus the wrong 1
    assert report.layers[4].error == "predicted [2, 6, 6, 7], torch gives [2, 6, 6, 6]"   # 8 - 3 + 1 = 6


def test_wrong_rule_exits_1(monkeypatch, cache, tmp_path):
    monkeypatch.setattr(REGISTRY["ReLU"], "output_shape", lambda self, inputs: tuple(inputs[0][:-1]) + (1,))
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [1, 2, 5, 5]\nlayers:\n  - Conv2d: {out_channels: 3, kernel_size: 3}\n  - ReLU\n")
    result = cli("run", str(spec), "--dtype", "float64", "--repeats", "1", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert [layer["confirmed"] for layer in data["layers"]] == [True, False]
    assert data["confirmed"] is False
    assert data["layers"][1]["error"] == "predicted [1, 3, 3, 1], torch gives [1, 3, 3, 3]"


def test_wrong_kernel_is_caught(monkeypatch, calibration):
    monkeypatch.setitem(KERNELS, "ReLU", lambda layer, xs, state: xs[0])   # forgets the max(0, x)
    report = run(cs.loads(SMALL), dtype="float64", repeats=1, warmup=0, calibration=calibration)
    relu = report.layers[2]
    assert not relu.confirmed and relu.output_shape == relu.predicted_shape
    assert relu.error.startswith("reference differs from torch: max relative error")
    assert [r.confirmed for r in report.layers].count(False) == 1


def test_kernel_that_crashes_is_unconfirmed_not_fatal(monkeypatch, calibration):
    def broken(layer, xs, state):
        raise RuntimeError("boom")
    monkeypatch.setitem(KERNELS, "Linear", broken)
    report = run(cs.loads(SMALL), dtype="float64", repeats=1, warmup=0, calibration=calibration)
    assert report.layers[-1].error == "reference kernel failed: RuntimeError: boom"
    assert report.totals.confirmed == report.totals.layers - 1


# ---------------------------------------------------------------- figures
def test_lenet_memory_figures_exact(calibration):
    network = cs.load("zoo:lenet5")
    report = cs.analyze(network, dtype="float64")
    # params 520 + 25_050 + 1_225_500 + 5_010 = 1_256_080, * 8 B = 10_048_640; no float buffers.
    # Largest live set: ReLU reading conv1's output while writing its own, 2 * 20*28*28 = 31_360
    # elements * 8 B = 250_880.  10_048_640 + 250_880 = 10_299_520
    assert predicted_peak_bytes(network, report) == 10_299_520
    result = run(network, dtype="float64", repeats=1, warmup=0, calibration=calibration)
    assert result.totals.predicted_peak_bytes == 10_299_520
    assert result.totals.peak_memory_bytes == 10_299_520     # distinct live storages on the CPU
    # every layer output kept: 15_680*2 + 3_920 + 9_800*2 + 2_450*2 + 500*2 + 10 = 60_790 elements,
    # * 8 B = 486_320, plus the 10_048_640 B of parameters
    assert result.totals.activation_plus_param_bytes == 10_534_960


AUTOENCODER = """
name: autoencoder
input: [1, 2, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: enc
  - MaxPool2d: {kernel_size: 2, return_indices: true}
    name: pool
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: mid
  - MaxUnpool2d: {kernel_size: 2}
    inputs: [mid, pool]
    name: unpool
  - Conv2d: {out_channels: 2, kernel_size: 3, padding: 1}
    name: dec
"""


# params (2*4*9 + 4) + (4*4*9 + 4) + (4*2*9 + 2) = 76 + 148 + 74 = 298 elements.
# Activations in elements: input 128, enc 256, pool 64 (+ 64 int64 indices, 8 B whatever the dtype),
# mid 64, unpool 256. Live after the pool: enc 256 + pool 64 (the input freed after enc) + indices;
# after the unpool: mid 64 + unpool 256 + indices, as many. float32: 298*4 + 320*4 + 512 = 2_984;
# float16: 298*2 + 320*2 + 512 = 1_748.
# Bytes moved: the pool reads enc 256 el, writes 64 values and 64 * 8 B of indices; the unpool reads
# mid 64 el and those indices, writes 256 el. float32: 1_024 + 256 + 512 = 1_792 and 256 + 512 + 1_024
# = 1_792; float16: 512 + 128 + 512 = 1_152 and 128 + 512 + 512 = 1_152
@pytest.mark.parametrize("dtype, peak, moved", [("float32", 2_984, 1_792), ("float16", 1_748, 1_152)])
def test_autoencoder_with_pool_indices_runs_confirmed_and_its_peak_exact(dtype, peak, moved, cache, tmp_path):
    """`convshape run` carries the pool's int64 indices to the unpool: every layer confirmed against
    torch (the pool's indices equal torch's exactly), the measured peak the predicted one."""
    spec = tmp_path / "autoencoder.yaml"
    spec.write_text(AUTOENCODER)
    result = cli("run", str(spec), "--dtype", dtype, "--repeats", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["name"] for r in data["layers"] if r["confirmed"]] == ["enc", "pool", "mid", "unpool", "dec"]
    assert data["totals"]["predicted_peak_bytes"] == peak
    assert data["totals"]["peak_memory_bytes"] == peak       # distinct live storages on the CPU
    assert [r["bytes"] for r in data["layers"] if r["name"] in ("pool", "unpool")] == [moved, moved]


def test_wrong_pool_indices_are_caught(monkeypatch, calibration):
    """Values right, indices wrong: the pool is unconfirmed, by the count of differing indices."""
    pool_kernel = KERNELS["MaxPool2d"]

    def mirrored(layer, xs, state):
        values, indices = pool_kernel(layer, xs, state)
        return values, indices.flip(-1)
    monkeypatch.setitem(KERNELS, "MaxPool2d", mirrored)
    report = run(cs.loads(AUTOENCODER), repeats=0, calibration=calibration)
    # each window's index lies in its own window, so a row of 4 reversed differs everywhere: 1*4*4*4 = 64
    assert [(r.name, r.error) for r in report.layers if not r.confirmed] == \
        [("pool", "reference indices differ from torch's at 64 positions")]


def test_autoencoder_reference_chain_equals_torch_chain():
    """The whole network through the reference kernels alone (indices included) against torch's modules
    alone, same weights: end to end, not only layer by layer."""
    from convshape.executor.runner import Settings, _forward, _reference_call, _state, build_module
    from convshape.memory.schedule import last_uses
    network = cs.loads(AUTOENCODER)
    report = cs.analyze(network)
    settings = Settings(device=torch.device("cpu"), dtype=torch.float64, repeats=0, warmup=0, channels_last=False)
    torch.manual_seed(0)
    shapes = {"input": report.input_shape}
    shapes.update((node.name, lr.output_shape) for node, lr in zip(network.nodes, report.layers))
    modules = [build_module(node.layer, [shapes[n] for n in node.inputs], settings) for node in network.nodes]
    kernels = [_reference_call(node, _state(m)) for node, m in zip(network.nodes, modules)]
    x = torch.randn(*report.input_shape, dtype=torch.float64)
    with torch.no_grad():
        theirs = _forward(network, modules, x, last_uses(network))["dec"]
        ours = _forward(network, kernels, x, last_uses(network))["dec"]
    assert ours.shape == theirs.shape == (1, 2, 8, 8)
    assert float(rel_error(ours, theirs)) <= 1e-12


def test_flops_bytes_and_roofline(calibration):
    network = cs.loads(SMALL)
    report = run(network, dtype="float32", repeats=1, warmup=0, calibration=calibration)
    conv = report.layers[0]
    # MACs 2*4*16*16 * (3*3*3) = 55_296; FLOPs 2 * 55_296 + 2_048 bias adds = 112_640
    assert conv.flops == 112_640
    # float32: input 2*3*16*16 = 1_536, weights 4*3*3*3 + 4 = 112, output 2_048 elements: 3_696 * 4 B
    assert conv.bytes == 14_784
    floor_s = max(112_640 / calibration.peak("float32"), 14_784 / calibration.copy_bytes_per_s)
    assert conv.roofline_floor_ms == pytest.approx(floor_s * 1e3)
    assert conv.roofline_efficiency == pytest.approx(conv.roofline_floor_ms / conv.time_ms)
    flatten = report.layers[6]
    assert flatten.bytes == 0 and flatten.roofline_efficiency is None   # a view moves nothing
    assert report.totals.flops == sum(r.flops for r in report.layers)


def test_low_calibration_is_flagged(calibration):
    slow = cal.Calibration(device="test", device_name="test", matmul_flops={"float32": 1.0}, copy_bytes_per_s=1.0)
    report = run(cs.loads(SMALL), dtype="float32", repeats=1, warmup=0, calibration=slow)
    assert len(report.warnings) == 1 and "the calibration looks low" in report.warnings[0]
    assert report.layers[0].bound == "compute"   # 112_640 flops at 1 FLOP/s vs 14_784 B at 1 B/s
    assert report.to_dict()["warnings"] == report.warnings


def test_json_contract(cache):
    result = cli("run", "zoo:lenet5", "--dtype", "float64", "--repeats", "1", "--warmup", "0", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"network", "input", "device", "dtype", "seed", "confirmed", "layers", "totals", "calibration"} <= set(data)
    for layer in data["layers"]:
        assert {"name", "output_shape", "confirmed", "max_rel_error", "time_ms", "tflops",
                "roofline_efficiency"} <= set(layer)
    assert data["layers"][0]["output_shape"] == [1, 20, 28, 28]
    assert {"layers", "confirmed", "time_ms", "tflops", "roofline_efficiency", "peak_memory_bytes",
            "predicted_peak_bytes", "instrumentation_overhead"} <= set(data["totals"])
    assert data["totals"]["confirmed"] == data["totals"]["layers"] == 10


def test_several_specs_and_batch(cache):
    result = cli("run", "zoo:lenet5", "zoo:lenet5", "--batch", "3", "--dtype", "float64", "--repeats", "1",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["input"] for d in data] == [[3, 1, 28, 28]] * 2


def test_table_output(cache):
    result = cli("run", "zoo:lenet5", "--dtype", "float64", "--repeats", "1")
    assert result.exit_code == 0, result.output
    assert "10/10" in result.stdout and "peak memory" in result.stdout


def test_seed_reproducible_and_rel_error_semantics(calibration):
    a = run(cs.loads(SMALL), dtype="float64", seed=3, repeats=1, warmup=0, calibration=calibration)
    b = run(cs.loads(SMALL), dtype="float64", seed=3, repeats=1, warmup=0, calibration=calibration)
    assert [r.max_rel_error for r in a.layers] == [r.max_rel_error for r in b.layers]
    nan = float("nan")
    assert float(rel_error(torch.tensor([1.0, nan]), torch.tensor([1.0, nan]))) == 0.0
    assert float(rel_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, nan]))) == float("inf")
    assert float(rel_error(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 4.0]))) == 0.25   # |3-4| / max|4|


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_lower_precision_within_tolerance(dtype, calibration):
    report = run(cs.loads(SMALL), dtype=dtype, repeats=1, warmup=0,
                 calibration=cal.Calibration(device="test", device_name="test", matmul_flops={dtype: 1e9},
                                             copy_bytes_per_s=1e9))
    assert report.all_confirmed, [(r.name, r.error) for r in report.layers]


# ---------------------------------------------------------------- errors
def test_symbolic_input_is_a_usage_error(cache):
    result = cli("run", "zoo:lenet5", "--input", "N,1,28,28")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "concrete input" in result.stderr


def test_invalid_input_exits_1(cache):
    result = cli("run", "zoo:lenet5", "--input", "1,1,20,20")
    assert result.exit_code == 1 and "in_features" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda(cache):
    result = cli("run", "zoo:lenet5", "--device", "cuda")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.endswith("--device cuda: CUDA is not available on this machine\n")


# ---------------------------------------------------------------- sweeps
def test_parse_sweep():
    assert parse_sweep("H=64:512:32") == ("H", list(range(64, 513, 32)))   # stop included: 15 sizes
    assert parse_sweep("W=5:7") == ("W", [5, 6, 7])
    assert parse_sweep("N=1,2,8") == ("N", [1, 2, 8])
    for bad in ("H=0:4", "H=9:4", "H", "H=a:b", "H=4:8:0"):
        with pytest.raises(SpecError):
            parse_sweep(bad)


def test_sweep_confirms_valid_and_invalid_sizes():
    network = cs.loads(SMALL)
    # valid from H = 8 on: conv pad 1 keeps H, pool halves it, the 3x3 conv needs H // 2 >= 3
    report = sweep(network, {"H": list(range(2, 13)), "N": [1, 3]})
    assert len(report.points) == 22 and report.all_confirmed
    valid = sorted({p.input_shape[2] for p in report.points if p.predicted is not None})
    assert valid == [6, 7, 8, 9, 10, 11, 12]     # 6 // 2 = 3 is the first that fits the kernel
    assert all(p.observed == p.predicted for p in report.points)


def test_sweep_carries_pool_indices_to_the_unpool():
    """torch's meta modules get the pool's int64 indices at the unpool, as the run does."""
    report = sweep(cs.loads(AUTOENCODER), {"H": [1, 8, 9, 12]})
    assert report.all_confirmed
    # H = 1: the pool's 1 // 2 = 0 rows, refused by both; else the unpool gives (H // 2 - 1)*2 + 2:
    # 8 -> 8, 9 -> 8 (no output_size restores the odd row), 12 -> 12
    assert [p.observed for p in report.points] == [None, (1, 2, 8, 8), (1, 2, 8, 8), (1, 2, 12, 8)]


def test_sweep_catches_a_wrong_rule(monkeypatch):
    original = REGISTRY["MaxPool2d"].output_shape

    def off_at_odd_sizes(self, inputs):   # wrong only where the input is odd
        out = original(self, inputs)
        return out[:-1] + (out[-1] + inputs[0][-1] % 2,)
    monkeypatch.setattr(REGISTRY["MaxPool2d"], "output_shape", off_at_odd_sizes)
    report = sweep(cs.loads(SMALL), {"W": [10, 11, 12, 13]})
    assert [p.confirmed for p in report.points] == [True, False, True, False]
    assert report.points[1].layer == "maxpool2d_1"
    assert report.points[1].detail == "predicted [2, 4, 8, 6], torch [2, 4, 8, 5]"   # 11 // 2 = 5


def test_sweep_cli(cache):
    result = cli("run", "zoo:lenet5", "--sweep", "H=24:32:4", "--format", "json")
    # in_features: 2450 = 50 * 7 * 7 is written: H = 24 gives 50 * 6 * 7, H = 32 gives 50 * 8 * 7, and
    # torch's Linear(2450, 500) refuses them too
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [p["predicted"] for p in data["points"]] == [None, [1, 10], None]
    assert data["confirmed"] == data["total"] == 3
    bad = cli("run", "zoo:lenet5", "--sweep", "C=1:3")
    assert bad.exit_code == 2 and "no such dim" in bad.stderr
