"""docs/memory.md's comparison table: what autograd saves (saved_tensors_hooks) and the training-step
peak (live-storage tracker, SGD) against convshape and torchinfo's estimate, for torchvision models
in train mode at batch 8, 224x224, float32, all from one run. Needs torchvision and torchinfo.

Prints, never asserts (tests/test_memory.py asserts).

    python benchmarks/memory_vs_torchinfo.py [resnet18 resnet50 mobilenet_v2]
"""
from __future__ import annotations

import sys

import torch
import torchvision
from torchinfo import summary

from convshape import spec
from convshape.analysis import analyze
from convshape.memory.training import training_step
from convshape.torch.memtrack import saved_bytes, training_step_peak

MiB = 2 ** 20
SHAPE = (8, 3, 224, 224)


def row(name: str) -> str:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)().train()
    x = torch.randn(SHAPE)
    hooks, _ = saved_bytes(model, x)
    info = summary(model, input_size=SHAPE, verbose=0, mode="train")
    passes = info.total_output_bytes / MiB
    estimated = (info.total_input + info.total_output_bytes + info.total_param_bytes) / MiB
    network = spec.load("zoo:" + name)
    report = analyze(network, SHAPE)
    step = training_step(network, report, "sgd")
    measured = training_step_peak(model, x, torch.optim.SGD(model.parameters(), lr=0.01))
    return (f"| {name} | {hooks / MiB:,.1f} | {report.totals.saved_bytes / MiB:,.1f} | {passes:,.1f} | "
            f"{estimated:,.1f} | {measured / MiB:,.1f} | {step.peak_bytes / MiB:,.1f} |")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, batch 8, 224x224, float32, train mode")
    for name in sys.argv[1:] or ["resnet18", "resnet50", "mobilenet_v2"]:
        print(row(name), flush=True)
