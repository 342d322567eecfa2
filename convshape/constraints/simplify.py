"""Recognize a set of valid sizes as a closed form: exceptions plus {x >= s : x mod q in R}."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Periodic:
    modulus: int
    residues: tuple
    start: int | None          # the rule holds for every searched x >= start; None: no valid size there
    exceptions: list           # valid sizes below start


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
        candidates = range(1, (max_modulus or n // 3) + 1)
    for q in candidates:
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
        residues = tuple(sorted({x % q for x in range(t, min(t + q, last + 1)) if valid[x - first]}))
        # walk the start back while the rule still describes the verdicts
        s = t
        while s > first and valid[s - 1 - first] == ((s - 1) % q in residues):
            s -= 1
        if residues:
            # start the rule at its first valid size, so "x >= start" reads as a minimum
            while s <= last and not valid[s - first]:
                s += 1
            start = s
        else:
            start = None
        exceptions = [first + i for i in range(0, (start if start is not None else last + 1) - first) if valid[i]]
        return Periodic(q, residues, start, exceptions)
    return None
