"""docs/memory.md's corpus table: convshape's memory figures for imported CNNs (torchvision
classification models and a timm CNN list) against the CPU referees of convshape/torch/memtrack.py,
all at one small input: what autograd saves for backward in train and in eval mode
(saved_tensors_hooks, distinct storages), the eager inference peak and the SGD training-step peak
(live-storage tracker). Each model is imported with from_torch at that input.

Prints, never asserts (tests/test_memory.py asserts on the zoo).

    OMP_NUM_THREADS=1 python benchmarks/memory_corpus.py [--timm] [--monai] [--smp] [--no-torchvision] [--input 2,3,64,64] [--json out.json] [NAME ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import torch

from convshape.analysis import analyze
from convshape.graph import INPUT
from convshape.memory.estimate import saved_for_backward
from convshape.memory.training import training_step
from convshape.report import DTYPE_BYTES
from convshape.torch.importer import UnmappedOps, from_torch
from convshape.torch.memtrack import inference_peak, saved_bytes, training_step_peak

TORCHVISION = ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2", "mobilenet_v3_large",
               "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf", "regnet_x_400mf", "densenet121",
               "squeezenet1_1", "shufflenet_v2_x1_0", "mnasnet1_0", "googlenet", "convnext_tiny", "alexnet",
               "vgg11_bn"]
from import_coverage import TIMM_CNNS, monai_models, smp_models  # noqa: E402 - the import corpus's lists, one source
# beyond that list: BiT's StdConv2d (NF-Nets' ScaledStdConv2d are in it)
TIMM_EXTRA = ["resnetv2_50x1_bit"]


def factories(with_timm: bool, with_monai: bool = False, with_smp: bool = False, with_torchvision: bool = True):
    """(name, factory, input shapes to try or None for --input): the first shape the import accepts is used."""
    import torchvision
    tv = torchvision.models
    for name in TORCHVISION if with_torchvision else []:
        kw = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
        yield f"torchvision.{name}", (lambda n=name, kw=kw: getattr(tv, n)(weights=None, **kw)), None
    if with_timm:
        import timm
        for name in TIMM_CNNS + TIMM_EXTRA:
            yield f"timm.{name}", (lambda n=name: timm.create_model(n, pretrained=False)), None
    if with_monai:   # the import corpus's MONAI list (2-D and 3-D), at batch 2 for train-mode BatchNorm
        for name, factory, shape in monai_models():
            yield name, factory, [(2,) + tuple(shape[1:])]
    if with_smp:     # every smp architecture with two encoders, at the smallest square its forward accepts
        for name, factory, sizes in smp_models():
            yield name, factory, [(2, 3, s, s) for s in sizes]


def eval_saved(network, report):
    """convshape's saved bytes with the modules in eval mode (running statistics, dropout off)."""
    shapes = {INPUT: tuple(report.input_shape), **{n: tuple(s) for n, s in report.inputs.items()}}
    shapes.update((r.name, tuple(r.output_shape)) for r in report.layers)
    total, _, _ = saved_for_backward(network, shapes, report.layers, DTYPE_BYTES[report.dtype], training=False)
    return total


def measure(name, factory, shapes):
    row = {"model": name}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(0)
            model = factory()
            for i, shape in enumerate(shapes):
                try:
                    network = from_torch(model.eval(), shape)
                    break
                except UnmappedOps:
                    raise
                except Exception:  # noqa: BLE001 - a size the forward refuses: the next one
                    if i == len(shapes) - 1:
                        raise
            report = analyze(network, shape)
            row["input"] = "x".join(map(str, shape))
    except UnmappedOps as e:
        return {**row, "status": "not imported", "why": ", ".join(w for w, _ in e.items[:3])}
    except Exception as e:  # noqa: BLE001 - the row says why
        return {**row, "status": "not imported", "why": f"{type(e).__name__}: {e}"[:160]}
    x = torch.randn(shape)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.train()
            train_hooks, _ = saved_bytes(model, x)
            model.eval()
            eval_hooks, _ = saved_bytes(model, x)
            peak = inference_peak(model, x)
            step = training_step_peak(model, x, torch.optim.SGD(model.parameters(), lr=0.01))
        except Exception as e:  # noqa: BLE001
            return {**row, "status": "torch fails", "why": f"{type(e).__name__}: {e}"[:160]}
    predicted = training_step(network, report, "sgd")
    row.update(layers=len(network.nodes), unknown=list(report.totals.saved_unknown),
               peak_unknown=list(report.totals.inference_peak_unknown),
               saved_train=[report.totals.saved_bytes, train_hooks], saved_eval=[eval_saved(network, report), eval_hooks],
               inference_peak=[report.totals.inference_peak_bytes, peak], step_peak=[predicted.peak_bytes, step],
               referee_s=round(time.perf_counter() - t, 2))
    saved = all(a == b for a, b in (row["saved_train"], row["saved_eval"]))
    peaks = row["inference_peak"][0] == row["inference_peak"][1] and abs(predicted.peak_bytes - step) <= 0.01 * step
    row["status"] = ("named" if row["unknown"] else "exact" if saved and peaks else
                     "saved exact" if saved else "saved differs")
    if row["peak_unknown"]:  # the peak leaves out copies no layer stands for (named, equal or not)
        row["status"] += ", peak names copies"
    return row


def cell(pair):
    ours, theirs = pair
    return f"{ours:,}" if ours == theirs else f"{ours:,} vs {theirs:,}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timm", action="store_true", help="include the timm CNN list")
    ap.add_argument("--monai", action="store_true", help="include the import corpus's MONAI networks (2-D and 3-D)")
    ap.add_argument("--smp", action="store_true", help="include every segmentation_models_pytorch architecture")
    ap.add_argument("--no-torchvision", action="store_true", help="leave out the torchvision list")
    ap.add_argument("--input", default="2,3,64,64", help="the input shape (batch 2: train-mode BatchNorm "
                                                        "refuses one value per channel)")
    ap.add_argument("--json", default=None)
    ap.add_argument("names", nargs="*", help="only these models (as printed, e.g. torchvision.resnet18)")
    args = ap.parse_args(argv)
    shape = tuple(int(s) for s in args.input.split(","))
    print(f"torch {torch.__version__}, CPU, float32, input {'x'.join(map(str, shape))}; figures in bytes, "
          f"convshape's (and the referee's where they differ)")
    print("| model | layers | saved, train | saved, eval | inference peak | SGD step peak, % off | status |")
    print("|---|---:|---:|---:|---:|---:|---|")
    rows = []
    for name, factory, shapes in factories(args.timm, args.monai, args.smp, not args.no_torchvision):
        if args.names and name not in args.names:
            continue
        row = measure(name, factory, shapes or [shape])
        label = name if shapes is None or 'input' not in row else f"{name} at {row['input']}"
        rows.append(row)
        if "saved_train" in row:
            ours, theirs = row["step_peak"]
            note = f" ({', '.join((row['unknown'] or row['peak_unknown'])[:3])})" if row["unknown"] or \
                row["peak_unknown"] else ""
            print(f"| {label} | {row['layers']} | {cell(row['saved_train'])} | {cell(row['saved_eval'])} | "
                  f"{cell(row['inference_peak'])} | {(ours - theirs) / theirs * 100:+.3f} | {row['status']}{note} |",
                  flush=True)
        else:
            print(f"| {label} | | | | | | {row['status']}: {row['why']} |", flush=True)
    counts: dict = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"\n{counts}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
