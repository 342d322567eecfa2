"""GPU figures of the reference executor (issue 5), written as JSON to an output directory.

    python benchmarks/executor_gpu.py --out results/        # on a CUDA machine: the real sizes
    python benchmarks/executor_gpu.py --out /tmp/x --smoke  # anywhere, tiny sizes, end to end

Sections, one JSON file each, and summary.json with every headline figure beside its target:
  calibration   peak matmul TFLOP/s per dtype and device copy bandwidth (`convshape calibrate`);
  resnet50      torchvision ResNet-50, eager, bf16, channels-last, batch 256: ms per forward and
                TFLOP/s; convshape's layer-by-layer torch path, plain and instrumented (overhead);
  zoo           one `convshape run` process over the whole zoo at batch 32 (224x224 where that is
                the spec's input) in bf16: wall time with start-up, every layer confirmed;
  conv          convshape's reference convolution (im2col + GEMM) against torch's (cuDNN) on each
                distinct convolution of ResNet-50 at batch 256 in bf16, and the issue's 3x3 case
                (256->256 channels, 56x56, batch 64) in bf16 and fp32 (TF32 off for both paths).
Targets are the figures the issue quotes for the lent H100; they are compared, never used.
Prints one line per figure; never asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

TARGETS = {  # the figures for the lent H100 (measured there), and its goals
    "bf16_matmul_tflops": 752.0, "copy_tbs": 3.0, "resnet50_ms": 19.9, "resnet50_tflops": 105.0,
    "instrumented_overhead_max": 0.05, "zoo_seconds_max": 60.0, "conv_vs_cudnn_min": 0.5,
    "naive_3x3_bf16_vs_cudnn": 0.28, "naive_3x3_fp32_vs_cudnn": 0.14,
}


def log(*parts):
    print(*parts, flush=True)


def write(out: str, name: str, data) -> None:
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(data, f, indent=2)


def cuda_time(fn, device, repeats: int, warmup: int) -> float:
    """Median seconds of fn() (CUDA events on GPU, perf_counter on CPU)."""
    from convshape.executor.timing import median, time_calls
    return median(time_calls(fn, device, repeats=repeats, warmup=warmup))


def section_calibration(device, out):
    from convshape.executor.calibrate import recalibrate
    cal, path = recalibrate(device)
    data = {**cal.to_dict(), "cache": str(path)}
    write(out, "calibration", data)
    log(f"calibration: bf16 matmul {cal.matmul_flops['bfloat16'] / 1e12:.1f} TFLOP/s, "
        f"copy {cal.copy_bytes_per_s / 1e12:.3f} TB/s")
    return cal


def section_resnet50(device, out, cal, smoke: bool):
    import torch
    import torchvision

    import convshape as cs
    from convshape.executor import run

    batch, size = (1, 32) if smoke else (256, 224)
    dtype = torch.float32 if smoke else torch.bfloat16
    dtype_name = "float32" if smoke else "bfloat16"
    repeats, warmup = (1, 0) if smoke else (20, 5)
    network = cs.load("zoo:resnet50")
    flops = 2 * cs.analyze(network, (batch, 3, size, size)).totals.macs
    model = torchvision.models.resnet50().to(device=device, dtype=dtype, memory_format=torch.channels_last).eval()
    x = torch.randn(batch, 3, size, size, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        seconds = cuda_time(lambda: model(x), device, repeats, warmup)
    del model, x
    report = run(network, (batch, 3, size, size), device=device.type, dtype=dtype_name, channels_last=True,
                 repeats=repeats, warmup=warmup, calibration=cal)
    t = report.totals
    data = {"batch": batch, "size": size, "dtype": dtype_name, "torchvision_ms": seconds * 1e3,
            "torchvision_tflops": flops / seconds / 1e12, "flops": flops,
            "fraction_of_matmul_peak": flops / seconds / cal.matmul_flops[dtype_name],
            "layerwise_plain_ms": t.plain_pass_ms, "layerwise_instrumented_ms": t.pass_ms,
            "instrumentation_overhead": t.overhead, "confirmed": report.all_confirmed,
            "sum_of_layer_medians_ms": t.time_ms, "roofline_efficiency": t.roofline_efficiency,
            "peak_memory_bytes": t.peak_memory_bytes, "predicted_peak_bytes": t.predicted_peak_bytes}
    write(out, "resnet50", data)
    log(f"resnet50 b{batch} {dtype_name} channels-last: torchvision {seconds * 1e3:.2f} ms "
        f"({data['torchvision_tflops']:.1f} TFLOP/s); layer-by-layer plain {t.plain_pass_ms:.2f} ms, "
        f"instrumented {t.pass_ms:.2f} ms (overhead {t.overhead:+.1%}); confirmed {report.all_confirmed}")
    return data


def section_zoo(device, out, smoke: bool):
    """One process, start-up included: `convshape run zoo:... --batch 32`."""
    import convshape as cs
    names = ["lenet5"] if smoke else cs.zoo_names()
    cmd = [sys.executable, "-m", "convshape.cli", "run", *[f"zoo:{n}" for n in names], "--device", device.type,
           "--dtype", "float32" if smoke else "bfloat16", "--batch", "2" if smoke else "32", "--format", "json"]
    if smoke:
        cmd += ["--repeats", "1", "--warmup", "0"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    try:
        reports = json.loads(proc.stdout)
    except ValueError:
        reports = []
    reports = reports if isinstance(reports, list) else [reports]
    data = {"command": " ".join(cmd[1:]), "exit_code": proc.returncode, "wall_seconds": wall,
            "stderr_tail": proc.stderr[-2000:],
            "networks": [{"network": r["network"], "input": r["input"], "confirmed": r["confirmed"],
                          "layers": r["totals"]["layers"], "pass_ms": r["totals"]["pass_ms"],
                          "tflops": r["totals"]["tflops"]} for r in reports]}
    write(out, "zoo", data)
    confirmed = sum(n["confirmed"] for n in data["networks"])
    log(f"zoo: {confirmed}/{len(names)} networks confirmed in {wall:.1f} s (exit {proc.returncode})")
    return data


def _conv_case(device, dtype, batch, c_in, size, c_out, kernel, stride, padding, groups, repeats, warmup):
    """(reference seconds, torch seconds, max relative error) for one convolution, channels-last."""
    import torch

    from convshape.executor.kernels.conv import convolve
    from convshape.executor.runner import rel_error
    conv = torch.nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, groups=groups, bias=False)
    conv = conv.to(device=device, dtype=dtype, memory_format=torch.channels_last).eval()
    x = torch.randn(batch, c_in, size, size, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    pads = [(padding, padding)] * 2
    with torch.inference_mode():
        ref = lambda: convolve(x, conv.weight, None, (stride, stride), pads, (1, 1), groups)  # noqa: E731
        err = float(rel_error(ref(), conv(x)))
        t_ref = cuda_time(ref, device, repeats, warmup)
        t_torch = cuda_time(lambda: conv(x), device, repeats, warmup)
    return t_ref, t_torch, err


def section_conv(device, out, smoke: bool):
    import torch

    import convshape as cs
    batch, size = (1, 32) if smoke else (256, 224)
    repeats, warmup = (1, 0) if smoke else (10, 3)
    network = cs.load("zoo:resnet50")
    report = cs.analyze(network, (batch, 3, size, size))
    shapes = {"input": report.input_shape}
    shapes.update({r.name: r.output_shape for r in report.layers})
    configs: dict = {}
    for node in network.nodes:
        if node.kind != "Conv2d":
            continue
        layer, x = node.layer, shapes[node.inputs[0]]
        key = (x[1], x[2], layer.out_channels, layer.kernel_size, layer.stride, layer.padding, layer.groups)
        configs[key] = configs.get(key, 0) + 1
    dtype = torch.float32 if smoke else torch.bfloat16
    rows, ref_total, torch_total = [], 0.0, 0.0
    for (c_in, hw, c_out, k, s, p, g), count in configs.items():
        t_ref, t_torch, err = _conv_case(device, dtype, batch, c_in, hw, c_out, k, s, p, g, repeats, warmup)
        rows.append({"in_channels": c_in, "size": hw, "out_channels": c_out, "kernel": k, "stride": s, "padding": p,
                     "count": count, "reference_ms": t_ref * 1e3, "torch_ms": t_torch * 1e3,
                     "speed_vs_torch": t_torch / t_ref, "max_rel_error": err})
        ref_total += count * t_ref
        torch_total += count * t_torch
    naive = {}
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        for name, dt in (("bfloat16", torch.bfloat16), ("float32", torch.float32)):
            nb, nc, ns = (1, 16, 14) if smoke else (64, 256, 56)
            t_ref, t_torch, err = _conv_case(device, dt, nb, nc, ns, nc, 3, 1, 1, 1, repeats, warmup)
            naive[name] = {"reference_ms": t_ref * 1e3, "torch_ms": t_torch * 1e3, "speed_vs_torch": t_torch / t_ref,
                           "max_rel_error": err}
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    data = {"batch": batch, "size": size, "dtype": "float32" if smoke else "bfloat16", "convs": rows,
            "resnet50_speed_vs_torch": torch_total / ref_total, "reference_total_ms": ref_total * 1e3,
            "torch_total_ms": torch_total * 1e3, "naive_3x3": naive}
    write(out, "conv", data)
    log(f"conv: reference at {data['resnet50_speed_vs_torch']:.2f}x torch over ResNet-50's convolutions; "
        f"3x3 case {naive['bfloat16']['speed_vs_torch']:.2f}x (bf16), {naive['float32']['speed_vs_torch']:.2f}x (fp32)")
    return data


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="directory for the JSON files")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, runs anywhere (CPU when no CUDA)")
    ap.add_argument("--device", default=None, help="cuda or cpu [default: cuda when available]")
    ap.add_argument("--only", nargs="*", default=None, choices=["calibration", "resnet50", "zoo", "conv"])
    args = ap.parse_args(argv)

    import torch
    name = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu" and not args.smoke:
        ap.error("the full sizes need a GPU; pass --smoke to run tiny sizes on the CPU")
    device = torch.device(name)
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only or ["calibration", "resnet50", "zoo", "conv"])
    summary: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                     "smoke": args.smoke, "torch": torch.__version__, "targets": TARGETS}
    cal = section_calibration(device, args.out) if "calibration" in only else None
    if cal is not None:
        summary["bf16_matmul_tflops"] = cal.matmul_flops["bfloat16"] / 1e12
        summary["copy_tbs"] = cal.copy_bytes_per_s / 1e12
    if "resnet50" in only:
        if cal is None:
            from convshape.executor.calibrate import calibration_for
            cal, _ = calibration_for(device, "bfloat16")
        r = section_resnet50(device, args.out, cal, args.smoke)
        summary.update(resnet50_ms=r["torchvision_ms"], resnet50_tflops=r["torchvision_tflops"],
                       instrumented_overhead=r["instrumentation_overhead"], resnet50_confirmed=r["confirmed"])
    if "zoo" in only:
        z = section_zoo(device, args.out, args.smoke)
        summary.update(zoo_seconds=z["wall_seconds"], zoo_confirmed=all(n["confirmed"] for n in z["networks"])
                       and z["exit_code"] == 0)
    if "conv" in only:
        c = section_conv(device, args.out, args.smoke)
        summary.update(conv_vs_cudnn=c["resnet50_speed_vs_torch"],
                       naive_3x3_bf16_vs_cudnn=c["naive_3x3"]["bfloat16"]["speed_vs_torch"],
                       naive_3x3_fp32_vs_cudnn=c["naive_3x3"]["float32"]["speed_vs_torch"])
    write(args.out, "summary", summary)
    log(json.dumps({k: v for k, v in summary.items() if k != "targets"}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
