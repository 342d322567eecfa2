"""benchmarks/executor_gpu.py runs end to end on the CPU with tiny sizes (--smoke)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_smoke_writes_every_figure(tmp_path):
    env = {**os.environ, "CONVSHAPE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "executor_gpu.py"), "--smoke",
                           "--device", "cpu", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(os.listdir(tmp_path / "out"))
    assert files == ["calibration.json", "conv.json", "resnet50.json", "summary.json", "zoo.json"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for key in ("bf16_matmul_tflops", "copy_tbs", "resnet50_ms", "resnet50_tflops", "instrumented_overhead",
                "zoo_seconds", "conv_vs_cudnn", "naive_3x3_bf16_vs_cudnn", "naive_3x3_fp32_vs_cudnn"):
        assert summary[key] > 0 or key == "instrumented_overhead", key
    assert summary["resnet50_confirmed"] and summary["zoo_confirmed"]
    conv = json.loads((tmp_path / "out" / "conv.json").read_text())
    # ResNet-50's distinct convolutions: 7x7 stem, and per stage 1x1 / 3x3 / 1x1 / downsample shapes
    assert len(conv["convs"]) >= 10 and all(c["max_rel_error"] <= 1e-4 for c in conv["convs"])
