"""Recognize a set of valid sizes as a closed form: exceptions plus {x >= s : x mod q in R}."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Periodic:
    modulus: int
    residues: tuple
    start: int | None          # valid = exceptions + {x >= start : x % modulus in residues}; None: no such x
    exceptions: list           # valid sizes the periodic part does not cover


def recognize(valid: list, first: int = 1, period_hint: int | None = None, settled_from: int | None = None,
              max_modulus: int | None = None) -> Periodic | None:
    """Describe `valid` (valid[i] is the verdict for size first + i) as exceptions + a periodic tail.

    With period_hint/settled_from (a proof that the verdicts are period_hint-periodic from
    settled_from on), only divisors of the hint are tried and the tail is known to continue for
    ever. Without a hint, the smallest modulus whose pattern repeats at least three times over the
    searched sizes is taken, which describes the searched sizes exactly but proves nothing beyond.
    Returns None when no modulus fits.
    """
    n = len(valid)
    last = first + n - 1
    if period_hint is not None:
        candidates = [q for q in range(1, period_hint + 1) if period_hint % q == 0]
    else:
        candidates = range(1, (max_modulus or min(n // 3, 1024)) + 1)
    best = None
    for q in candidates:
        if best is not None and period_hint is None and first + q >= best[0]:
            break  # a larger modulus cannot describe the sizes with an earlier start
        # t: the first size from which valid(x) == valid(x + q) holds up to the end of the search
        t = first
        for i in range(n - q - 1, -1, -1):
            if valid[i] != valid[i + q]:
                t = first + i + 1
                break
        if period_hint is not None:
            if settled_from is not None and t > max(settled_from, first):
                continue  # q is not a period of the settled tail
        elif last - t + 1 < 3 * q:
            continue  # not seen repeating often enough to call it a pattern
        if best is None or t + q < best[0]:
            best = (t + q, q, t)
        if period_hint is not None:
            break  # the smallest divisor that fits is the period of the tail
    if best is None:
        return None
    _, q, t = best
    residues = tuple(sorted({x % q for x in range(t, min(t + q, last + 1)) if valid[x - first]}))
    # walk the start back while the rule never calls an invalid size valid (extra valid sizes
    # below the start become exceptions)
    s = t
    while s > first and not ((s - 1) % q in residues and not valid[s - 1 - first]):
        s -= 1
    start = next((x for x in range(s, last + 1) if x % q in residues), None) if residues else None
    exceptions = [x for x in range(first, last + 1) if valid[x - first]
                  and not (start is not None and x >= start and x % q in residues)]
    return Periodic(q, residues, start, exceptions)
