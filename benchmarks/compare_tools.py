"""Measure what other counting tools report, and reproduce every figure from convshape's Report.

    python benchmarks/compare_tools.py            # ResNet-50 at 1x3x224x224 + grouped-conv backward
    python benchmarks/compare_tools.py --markdown # the same as the tables in docs/conventions.md

Each tool silently picks a counting convention. For each one this script prints the figure the
tool measures on the live torchvision model and the same figure rebuilt from convshape's
per-layer results (macs, other_ops, params and element counts, by layer type), and says whether
the two are equal. The formulas are the ones docs/conventions.md explains.

Needs the dev extra plus the tools themselves (torchinfo, fvcore, ptflops, thop); a missing tool
is reported and skipped.
"""
from __future__ import annotations

import argparse
import copy
import importlib.metadata
import math
import warnings
from collections import defaultdict

import convshape as cs
from convshape.torch.peer_tools import quiet  # the tools print tables and warnings


# ----------------------------------------------------------------------------- our side
def by_type(report) -> dict:
    """Per layer type: sums of macs, other_ops, params, output elements and input elements."""
    shapes = {"input": report.input_shape}
    agg: dict = defaultdict(lambda: defaultdict(int))
    for layer in report.layers:
        shapes[layer.name] = layer.output_shape
        a = agg[layer.type]
        a["macs"] += layer.macs
        a["other_ops"] += layer.other_ops
        a["params"] += layer.params
        a["out"] += layer.activation_elements
        a["in"] += sum(math.prod(shapes[i]) for i in layer.inputs)
    return agg


def reproductions(report) -> dict:
    """tool -> (formula over convshape's figures, value). Valid for networks made of the layer
    kinds below (ResNet-style CNNs); each formula names the kinds the tool counts."""
    t = by_type(report)
    macs = report.totals.macs
    bn = t["BatchNorm2d"]
    linear_bias = t["Linear"]["other_ops"]  # one add per output element of a Linear with bias
    bias = linear_bias + t["Conv2d"]["other_ops"]  # conv other_ops are its bias adds too
    batch = report.input_shape[0]
    pools = ("MaxPool2d", "AdaptiveAvgPool2d")
    return {
        "FlopCounterMode (forward)": ("2 × MACs", 2 * macs),
        "torchinfo (mult-adds)": (
            "MACs + Conv2d and Linear bias adds + batch × BatchNorm params",
            macs + bias + batch * bn["params"]),
        "fvcore": (
            "MACs + BatchNorm other_ops + AdaptiveAvgPool2d other_ops",
            macs + bn["other_ops"] + t["AdaptiveAvgPool2d"]["other_ops"]),
        "ptflops (aten)": ("MACs + Linear bias adds", macs + linear_bias),
        "ptflops (pytorch)": (
            "MACs + Linear bias adds + BatchNorm other_ops + 2 × (ReLU outputs + pool inputs)",
            macs + linear_bias + bn["other_ops"]
            + 2 * (t["ReLU"]["out"] + sum(t[p]["in"] for p in pools))),
        "thop": (
            "MACs + 2 × BatchNorm other_ops + AdaptiveAvgPool2d (other_ops + outputs)",
            macs + 2 * bn["other_ops"] + t["AdaptiveAvgPool2d"]["other_ops"] + t["AdaptiveAvgPool2d"]["out"]),
        "FlopCounterMode (backward)": ("flops_backward", report.totals.flops_backward),
        "torchinfo params size (B)": ("param_bytes", report.totals.param_bytes),
        "torchinfo forward/backward pass size (B)": (
            "2 × activation_bytes of the layers with parameters",
            2 * sum(layer.activation_bytes for layer in report.layers if layer.params)),
    }


# ----------------------------------------------------------------------------- their side
def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def measure(model_fn, shape) -> dict:
    """tool -> figure, measured on fresh eval-mode models (train mode for backward)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(*shape)
    out: dict = {}

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model_fn().eval()(x)
    out["FlopCounterMode (forward)"] = fc.get_total_flops()

    model = model_fn().train()
    with FlopCounterMode(display=False) as fc:
        model(x).sum().backward()
    out["FlopCounterMode (backward)"] = fc.get_total_flops() - out["FlopCounterMode (forward)"]

    try:
        import torchinfo
        with quiet():
            s = torchinfo.summary(model_fn().eval(), input_size=tuple(shape), verbose=0)
        out["torchinfo (mult-adds)"] = int(s.total_mult_adds)
        out["torchinfo params size (B)"] = int(s.total_param_bytes)
        out["torchinfo forward/backward pass size (B)"] = int(s.total_output_bytes)
    except ImportError:
        pass
    try:
        from fvcore.nn import FlopCountAnalysis
        with quiet(), torch.no_grad():
            fa = FlopCountAnalysis(model_fn().eval(), x)
            fa.unsupported_ops_warnings(False)
            fa.uncalled_modules_warnings(False)
            out["fvcore"] = int(fa.total())
    except ImportError:
        pass
    try:
        from ptflops import get_model_complexity_info
        for backend in ("aten", "pytorch"):
            with quiet():
                macs, _ = get_model_complexity_info(model_fn().eval(), tuple(shape[1:]), as_strings=False,
                                                    print_per_layer_stat=False, backend=backend)
            out[f"ptflops ({backend})"] = int(macs)
    except ImportError:
        pass
    try:
        import thop
        with quiet(), torch.no_grad():
            macs, _ = thop.profile(model_fn().eval(), inputs=(x,), verbose=False)
        out["thop"] = int(macs)
    except ImportError:
        pass
    return out


# ----------------------------------------------------------------------------- grouped convolutions
DEPTHWISE_SPEC = """
name: depthwise
input: [1, 32, 112, 112]
layers:
  - Conv2d: {out_channels: 32, kernel_size: 1, bias: false}
  - Conv2d: {out_channels: 32, kernel_size: 3, padding: 1, groups: 32, bias: false}
"""


def torch_conv_backward(model, x) -> tuple[int, int]:
    """(FlopCounterMode's backward count, the same network's weight-grad + input-grad FLOPs).

    The second figure is computed module by module from the forward rule, so it does not depend
    on convshape: weight grad = forward FLOPs, input grad = forward FLOPs unless the
    module's input needs no gradient.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    forward: list = []

    def hook(module, args, output):
        # torch's forward rule, module by module: 2 * output elements * (in/groups) * kernel
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        else:
            per_output = module.in_features
        forward.append((2 * output.numel() * per_output, args[0].requires_grad))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    y = model(x)
    for h in handles:
        h.remove()
    fwd_total = sum(f for f, _ in forward)
    with FlopCounterMode(display=False) as fc:
        model(x).sum().backward()
    measured_bwd = fc.get_total_flops() - fwd_total
    exact = sum(f + (f if needs_input_grad else 0) for f, needs_input_grad in forward)
    del y
    return measured_bwd, exact


def grouped(markdown: bool) -> list[tuple]:
    import torch
    import torchvision

    rows = []
    net = cs.loads(DEPTHWISE_SPEC, name="depthwise")
    ours = cs.analyze(net).totals.flops_backward
    model = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 1, bias=False),
                                torch.nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False))
    measured, exact = torch_conv_backward(model.train(), torch.zeros(1, 32, 112, 112))
    rows.append(("1×1 conv + depthwise 3×3 conv (32 ch, 112×112)", measured, exact, ours))

    model = torchvision.models.mobilenet_v2().train()
    measured, exact = torch_conv_backward(model, torch.zeros(1, 3, 224, 224))
    ours = None
    if "mobilenet_v2" in cs.zoo_names():
        ours = cs.analyze(cs.load("zoo:mobilenet_v2")).totals.flops_backward
    rows.append(("torchvision mobilenet_v2 (1×3×224×224)", measured, exact, ours))
    return rows


# ----------------------------------------------------------------------------- output
def fmt(v) -> str:
    return "-" if v is None else f"{v:,}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print GitHub tables (docs/conventions.md)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # fvcore's torch.jit deprecation notices

    import torchvision

    shape = (1, 3, 224, 224)
    report = cs.analyze(cs.load("zoo:resnet50"), shape)
    measured = measure(torchvision.models.resnet50, shape)
    ours = reproductions(report)

    versions = ", ".join(f"{d} {version(d)}" for d in
                         ("torch", "torchvision", "torchinfo", "fvcore", "ptflops", "thop"))
    print(f"ResNet-50, input {list(shape)}; {versions}")
    print(f"convshape: MACs {report.totals.macs:,}, FLOPs {report.totals.flops:,}, "
          f"backward FLOPs {report.totals.flops_backward:,}, other_ops {report.totals.other_ops:,}")
    ok = True
    if args.markdown:
        print("\n| tool | its figure | from convshape | formula |\n|---|---:|---:|---|")
    for tool, (formula, value) in ours.items():
        got = measured.get(tool)
        same = got == value
        ok &= same or got is None
        if args.markdown:
            print(f"| {tool} | {fmt(got)} | {fmt(value)}{'' if same or got is None else ' ≠'} | {formula} |")
        else:
            mark = "equal" if same else ("not measured" if got is None else "DIFFERENT")
            print(f"  {tool:<40} {fmt(got):>16}  {fmt(value):>16}  {mark:<12} {formula}")

    print("\nGrouped convolutions, backward FLOPs (training mode)")
    if args.markdown:
        print("\n| network | FlopCounterMode backward | weight grad + input grad | convshape flops_backward | ratio |"
              "\n|---|---:|---:|---:|---:|")
    for what, bwd, exact, mine in grouped(args.markdown):
        ratio = bwd / exact
        ok &= mine is None or mine == exact
        if args.markdown:
            print(f"| {what} | {fmt(bwd)} | {fmt(exact)} | {fmt(mine)} | {ratio:.2f} |")
        else:
            print(f"  {what:<48} FlopCounterMode {fmt(bwd):>16}  exact {fmt(exact):>16}  "
                  f"convshape {fmt(mine):>16}  ratio {ratio:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
