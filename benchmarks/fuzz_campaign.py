"""Long agreement campaign: convshape against live torch over generated layer configurations.

    python benchmarks/fuzz_campaign.py --n 100000 --seed 0 [--json out.json]

Configurations are generated round-robin over every registered layer kind by
convshape.torch.agreement (valid and invalid arguments and input sizes, 1-3d, concrete and
symbolic); each is compared on validity, output shape, parameters, buffers and MACs. Prints the
counts, the time, and one line per distinct disagreement (kind + first difference). The outcome of
the last run is recorded in docs/torch.md; CI runs a short hypothesis-driven campaign instead
(tests/test_fuzz_agreement.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convshape.torch.agreement import campaign, kinds  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write counts and disagreements here")
    args = ap.parse_args(argv)
    start = time.perf_counter()

    def progress(i, counts):
        print(f"  {i:>7,} configurations, {time.perf_counter() - start:7.1f} s: {counts}", flush=True)

    def found(i, outcome):
        print(f"  disagreement at configuration {i:,}: {outcome}", flush=True)

    result = campaign(args.n, seed=args.seed, progress=progress, on_failure=found)
    elapsed = time.perf_counter() - start
    counts = result["counts"]
    print(f"{counts['configurations']:,} configurations over {len(kinds())} layer kinds in {elapsed:.0f} s "
          f"({1000 * elapsed / max(counts['configurations'], 1):.1f} ms each), seed {args.seed}")
    print(f"both valid {counts['both_valid']:,}; both invalid {counts['both_invalid']:,}; "
          f"refused on purpose {counts['intentional']:,}; disagreements {counts['disagreements']:,}; "
          f"not run (inputs over 10**7 elements) {counts['too_large']:,}")
    distinct = {}
    for f in result["failures"]:
        distinct.setdefault((f.kind, f.disagreements[0].split(":")[0]), f)
    for (kind, what), f in sorted(distinct.items()):
        n = sum(1 for g in result["failures"] if (g.kind, g.disagreements[0].split(":")[0]) == (kind, what))
        print(f"  {n:>5} x {f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "counts": counts, "seconds": round(elapsed, 1), "seed": args.seed,
            "disagreements": [str(f) for f in result["failures"]]}, indent=2))
    return 0 if not result["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
