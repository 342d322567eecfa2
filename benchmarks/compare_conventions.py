"""Regenerate docs/conventions.md's table "--convention against the tools": each installed tool run
on zoo networks (to_torch, eval mode, batch 1) against `convshape summary --convention TOOL`.

    python benchmarks/compare_conventions.py            # text, with every differing layer named
    python benchmarks/compare_conventions.py --markdown # the table in docs/conventions.md

Per layer, each node's module runs alone with the inputs it got in the whole run
(convshape/torch/peer_tools.py); the total is the tool run on the whole model. Exit 1 if any
figure differs. Needs torch and the tools (torchinfo, fvcore, ptflops, thop); a missing one is skipped.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NETS = [("zoo:lenet5", (1, 1, 28, 28)), ("zoo:resnet18", (1, 3, 64, 64)), ("zoo:mobilenet_v2", (1, 3, 64, 64)),
        ("zoo:convnext_tiny", (1, 3, 64, 64)), ("zoo:unet", (1, 3, 64, 64)), ("zoo:fcn1d", (1, 9, 128)),
        ("zoo:efficientnet_b0", (1, 3, 64, 64)), ("tests/specs/conventions_mix.yaml", (1, 3, 8, 8)),
        ("tests/specs/conventions_mix2.yaml", (1, 4, 16)), ("tests/specs/conventions_mix3.yaml", (1, 2, 6, 6, 6)),
        ("zoo:resnet50", (1, 3, 224, 224))]


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def compare(spec, shape, tools):
    """tool -> (ours, theirs, differing layers, layers) for one network."""
    import torch

    import convshape as cs
    from convshape.torch.peer_tools import convention_key, node_inputs, per_layer, total

    net = cs.load(spec)
    report = cs.analyze(net, shape)
    torch.manual_seed(0)
    model = cs.to_torch(net)
    x = torch.randn(*shape)
    inputs = node_inputs(model, net, x)
    out = {}
    for tool in tools:
        ours = report.convention(convention_key(tool))
        layers = per_layer(tool, model, net, x, inputs)
        bad = [(n, ours.layers[n], v) for n, v in layers.items() if (ours.layers[n] or 0) != v]
        out[tool] = (ours.total, total(tool, model, x), bad, len(layers))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print the GitHub table of docs/conventions.md")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from convshape.torch.peer_tools import TOOLS, installed
    tools = [t for t in TOOLS if installed(t)]
    versions = ", ".join(f"{d} {version(d)}" for d in ("torch", "torchinfo", "fvcore", "ptflops", "thop"))
    print(f"{versions}; tools run: {', '.join(tools)}")
    from convshape.torch.peer_tools import convention_key
    heads = [convention_key(t) for t in tools]
    if args.markdown:
        print("\n| network | input | " + " | ".join(heads) + " | layers equal |")
        print("|---|---|" + "---:|" * len(tools) + "---:|")
    ok = True
    for spec, shape in NETS:
        t0 = time.perf_counter()
        res = compare(spec, shape, tools)
        cells = []
        equal_layers = 0
        for tool in tools:
            ours, theirs, bad, n = res[tool]
            same = ours == theirs and not bad
            ok &= same
            equal_layers += n - len(bad)
            cells.append(f"{theirs:,}" if ours == theirs else f"{theirs:,} (ours {ours:,})")
        n_all = sum(r[3] for r in res.values())
        name = spec.removeprefix("zoo:").removeprefix("tests/specs/")
        if args.markdown:
            print(f"| {name} | {'×'.join(map(str, shape))} | " + " | ".join(cells) + f" | {equal_layers}/{n_all} |")
        else:
            print(f"{name} {list(shape)} ({time.perf_counter() - t0:.1f} s): layers equal {equal_layers}/{n_all}")
            for tool, cell in zip(tools, cells):
                print(f"  {convention_key(tool):<16} {cell}")
                for layer, mine, theirs in res[tool][2]:
                    print(f"      {layer}: convshape {mine}, {tool} {theirs}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
