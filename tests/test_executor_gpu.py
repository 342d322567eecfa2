"""The executor on a CUDA device: skipped without one (mark `gpu`).

What a GPU machine must show: every layer confirmed in bf16 and in exact fp32 (TF32 off), CUDA
event timings and allocator peaks present, calibration figures, the reference convolution
agreeing with cuDNN, and the TF32 switches left as they were.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import convshape as cs  # noqa: E402
from convshape.executor import calibrate as cal  # noqa: E402
from convshape.executor import run  # noqa: E402
from convshape.executor.kernels.conv import convolve  # noqa: E402
from convshape.executor.runner import TOLERANCE, rel_error  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
CUDA = torch.device("cuda") if torch.cuda.is_available() else None


@pytest.fixture(scope="module")
def calibration():
    return cal.measure(CUDA, dtypes=("bfloat16", "float32"))


def test_calibration_figures(calibration):
    assert calibration.matmul_flops["bfloat16"] > calibration.matmul_flops["float32"] > 0
    assert calibration.copy_bytes_per_s > 0


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_resnet50_confirmed_on_cuda(dtype, calibration):
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    report = run(cs.load("zoo:resnet50"), (8, 3, 64, 64), device="cuda", dtype=dtype, channels_last=True,
                 repeats=3, warmup=1, time_reference=True, calibration=calibration)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    assert report.all_confirmed, [(r.name, r.error) for r in report.layers if not r.confirmed]
    t = report.totals
    assert t.time_ms > 0 and t.reference_time_ms > 0 and t.pass_ms > 0 and t.plain_pass_ms > 0
    assert t.peak_memory_bytes >= t.predicted_peak_bytes * 0.5
    assert all(r.time_ms is not None for r in report.layers)


@pytest.mark.parametrize("groups,kernel,stride", [(1, 3, 1), (1, 1, 2), (1, 7, 2), (32, 3, 1), (64, 3, 2)])
def test_reference_convolution_matches_cudnn(groups, kernel, stride):
    conv = torch.nn.Conv2d(64, 128, kernel, stride=stride, padding=kernel // 2, groups=groups)
    conv = conv.to(CUDA, torch.bfloat16, memory_format=torch.channels_last).eval()
    x = torch.randn(4, 64, 28, 28, device=CUDA, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ref = convolve(x, conv.weight, conv.bias, (stride, stride), [(kernel // 2,) * 2] * 2, (1, 1), groups)
        assert float(rel_error(ref, conv(x))) <= TOLERANCE["bfloat16"]


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("factory", ["swin_t", "vit_b_16"])
def test_transformers_confirmed_on_cuda(factory, dtype, calibration):
    """The attention, Swin and algebra kernels on the device: torch's fused attention (flash or
    memory-efficient) against the reference's explicit softmax, and Swin's masks built on CUDA."""
    torchvision = pytest.importorskip("torchvision")
    from convshape.torch.importer import from_torch
    network = from_torch(getattr(torchvision.models, factory)().eval(), (2, 3, 224, 224))
    report = run(network, device="cuda", dtype=dtype, repeats=0, calibration=calibration)
    assert report.all_confirmed, [(r.name, r.error) for r in report.layers if not r.confirmed]
