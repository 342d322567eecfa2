"""Speed of `convshape lint` (issue 4): warm time per zoo network at its own input and at a
symbolic N,3,H,W input, and the cold command line over the whole zoo (a pre-commit hook's cost).

Prints, never asserts.

    python benchmarks/bench_lint.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import convshape as cs
from convshape.lint.config import Selection
from convshape.lint.context import Budgets
from convshape.lint.runner import check_network


def median(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    check_network(cs.load("zoo:lenet5"), Selection(None, []), Budgets(), ("N", 1, "H", "W"))  # import sympy once
    print(f"{'network':<18}{'layers':>7}{'concrete ms':>13}{'symbolic ms':>13}")
    for name in cs.zoo_names():
        net = cs.load("zoo:" + name)
        concrete = median(lambda: check_network(net, Selection(None, []), Budgets()), args.repeat)
        symbolic = median(lambda: check_network(net, Selection(None, []), Budgets(), ("N", 3, "H", "W")),
                          max(1, args.repeat // 2)) if len(net.input_shape) == 4 else float("nan")
        print(f"{name:<18}{len(net.nodes):>7}{concrete * 1e3:>13.1f}{symbolic * 1e3:>13.1f}")
    cmd = [sys.executable, "-m", "convshape.cli", "lint", "zoo:*", "--fail-on", "never"]
    cold = median(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL), 3)
    print(f"cold `convshape lint 'zoo:*'` ({len(cs.zoo_names())} networks): {cold:.2f} s")


if __name__ == "__main__":
    main()
