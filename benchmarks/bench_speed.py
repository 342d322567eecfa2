"""Speed of convshape against the anchors measured in the same run (issue 2, item 8).

Prints ratios, never asserts: timings belong here, not in unit tests.

    python benchmarks/bench_speed.py [--repeat 15] [--json out.json]

Anchors (when installed): torch.utils.flop_counter.FlopCounterMode on the meta device and
torchinfo.summary, both on torchvision's ResNet-50 at 1x3x224x224; for the cold start, a
script that does the same job with torchinfo.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cold(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def anchors(repeat: int) -> dict:
    out = {}
    try:
        import torch
        import torchvision
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return out
    with torch.device("meta"):
        model = torchvision.models.resnet50()
    x = torch.empty(1, 3, 224, 224, device="meta")

    def flop_counter():
        with FlopCounterMode(display=False) as fc:
            model(x)
        return fc.get_total_flops()

    flop_counter()
    out["flopcounter_meta_s"] = median_time(flop_counter, repeat)
    try:
        import torchinfo
        cpu_model = torchvision.models.resnet50()
        torchinfo.summary(cpu_model, input_size=(1, 3, 224, 224), verbose=0)
        out["torchinfo_s"] = median_time(
            lambda: torchinfo.summary(cpu_model, input_size=(1, 3, 224, 224), verbose=0), max(3, repeat // 3))
    except ImportError:
        pass
    return out


def generated_spec(n_layers: int) -> str:
    """A deep plain network: n_layers alternating 3x3 convs (padding 1) and ReLUs."""
    body = ["name: deep", "input: [1, 8, 32, 32]", "layers:"]
    for i in range(n_layers):
        body.append("  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}" if i % 2 == 0 else "  - ReLU")
    return "\n".join(body) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    fig: dict = {}

    # --- in-process, concrete and symbolic (separate processes so sympy's cache starts cold)
    code = ("import time,statistics,json,sys;t0=time.perf_counter();import convshape as cs;"
            "t1=time.perf_counter();n=cs.load('zoo:resnet50');t2=time.perf_counter();"
            "r=cs.analyze(n);t3=time.perf_counter();"
            "ts=[];[ts.append((lambda s:(cs.analyze(n),time.perf_counter()-s)[1])(time.perf_counter())) for _ in range(%d)];"
            "import sympy;t4=time.perf_counter();rs=cs.analyze(n,input_shape=('N',3,'H','W'));t5=time.perf_counter();"
            "ws=[];[ws.append((lambda s:(cs.analyze(n,input_shape=('N',3,'H','W')),time.perf_counter()-s)[1])(time.perf_counter())) for _ in range(5)];"
            "m=lambda r:(r.totals.inference_peak_bytes,r)[1];"   # reading a memory field runs the lazy memory pass
            "cm=[];[cm.append((lambda s:(m(cs.analyze(n)),time.perf_counter()-s)[1])(time.perf_counter())) for _ in range(%d)];"
            "sm=[];[sm.append((lambda s:(m(cs.analyze(n,input_shape=('N',3,'H','W'))),time.perf_counter()-s)[1])(time.perf_counter())) for _ in range(5)];"
            "print(json.dumps({'import_s':t1-t0,'load_s':t2-t1,'first_concrete_s':t3-t2,'concrete_s':statistics.median(ts),"
            "'symbolic_first_s':t5-t4,'symbolic_warm_s':statistics.median(ws),"
            "'concrete_with_memory_s':statistics.median(cm),'symbolic_with_memory_warm_s':statistics.median(sm)}))") % (
        args.repeat, args.repeat)
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    fig.update(json.loads(res.stdout))
    fig["load_and_concrete_s"] = fig["load_s"] + fig["first_concrete_s"]
    fig.update(anchors(args.repeat))

    # --- cold start of the whole command vs a torchinfo script doing the same job
    fig["cli_cold_s"] = cold([sys.executable, "-m", "convshape.cli", "summary", "zoo:resnet50"], 5)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write("import torchvision, torchinfo\n"
                "torchinfo.summary(torchvision.models.resnet50(), input_size=(1, 3, 224, 224))\n")
        script = f.name
    try:
        import torchinfo  # noqa: F401
        fig["torchinfo_cold_s"] = cold([sys.executable, script], 3)
    except ImportError:
        pass
    finally:
        os.unlink(script)

    # --- linear time in the number of layers (each size in a fresh process: no heap left over)
    scaling = {}
    probe = ("import sys,time,json;sys.path.insert(0,%r);from bench_speed import generated_spec;"
             "import convshape as cs;cs.analyze(cs.loads(generated_spec(10)));n=int(sys.argv[1]);"
             "text=generated_spec(n);t=time.perf_counter();net=cs.loads(text,name='deep.yaml');"
             "t1=time.perf_counter();cs.analyze(net);t2=time.perf_counter();"
             "print(json.dumps({'load_s':t1-t,'analyze_s':t2-t1,'us_per_layer':(t2-t)/n*1e6}))") % HERE
    for n in (1000, 2500, 5000, 10000, 20000):
        res = subprocess.run([sys.executable, "-c", probe, str(n)], check=True, capture_output=True, text=True)
        scaling[n] = json.loads(res.stdout)
    fig["scaling"] = scaling

    # --- report
    def ratio(a, b):
        return fig[a] / fig[b] if a in fig and b in fig else None

    print(f"convshape import             {fig['import_s'] * 1e3:8.1f} ms")
    print(f"load zoo:resnet50            {fig['load_s'] * 1e3:8.1f} ms")
    print(f"analyze (concrete, warm)     {fig['concrete_s'] * 1e3:8.2f} ms")
    print(f"analyze (symbolic N,H,W)     {fig['symbolic_first_s'] * 1e3:8.1f} ms first, "
          f"{fig['symbolic_warm_s'] * 1e3:.1f} ms warm")
    print(f"  + memory fields read         {fig['concrete_with_memory_s'] * 1e3:8.2f} ms concrete, "
          f"{fig['symbolic_with_memory_warm_s'] * 1e3:.1f} ms symbolic warm (the lazy memory pass run)")
    if "flopcounter_meta_s" in fig:
        print(f"anchor FlopCounterMode meta  {fig['flopcounter_meta_s'] * 1e3:8.1f} ms")
        print(f"  ratio anchor / concrete analyze:          {ratio('flopcounter_meta_s', 'concrete_s'):7.1f}x  (target >= 20x)")
        print(f"  ratio anchor / load+analyze (first call): {ratio('flopcounter_meta_s', 'load_and_concrete_s'):7.1f}x")
        print(f"  ratio anchor / symbolic (first call):     {ratio('flopcounter_meta_s', 'symbolic_first_s'):7.1f}x  (target > 1x)")
    if "torchinfo_s" in fig:
        print(f"anchor torchinfo.summary     {fig['torchinfo_s'] * 1e3:8.1f} ms  "
              f"(ratio {ratio('torchinfo_s', 'concrete_s'):.1f}x)")
    print(f"cold `convshape summary zoo:resnet50`  {fig['cli_cold_s'] * 1e3:8.1f} ms")
    if "torchinfo_cold_s" in fig:
        print(f"cold torchinfo script                  {fig['torchinfo_cold_s'] * 1e3:8.1f} ms  "
              f"ratio {ratio('torchinfo_cold_s', 'cli_cold_s'):.1f}x  (target >= 5x)")
    for n, s in scaling.items():
        print(f"{n:6d} layers: load {s['load_s'] * 1e3:7.1f} ms, analyze {s['analyze_s'] * 1e3:7.1f} ms, "
              f"{s['us_per_layer']:.1f} us/layer")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2)


if __name__ == "__main__":
    main()
