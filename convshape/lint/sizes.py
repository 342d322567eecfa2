"""Say for which input sizes an input-dependent finding occurs ("when H is odd").

A spatial size deep in a network is a floor/ceil expression in one input symbol, so anything
computed from it modulo a stride repeats with a period: the product of the strides on the way
(the receptive-field stride) times the layer's own. We evaluate one period at sizes large enough
for every layer to be valid, check the next period repeats it, and describe the residues.
"""
from __future__ import annotations

import math
from fractions import Fraction

from ..dims import substitute

MAX_PERIOD = 256


def one_symbol(dim):
    """The single input symbol a size depends on, or None (concrete, or several symbols)."""
    if type(dim) is int:
        return None
    syms = getattr(dim, "free_symbols", set())
    return next(iter(syms)) if len(syms) == 1 else None


def period_of(rf_stride, stride) -> int | None:
    s = Fraction(rf_stride) * stride if not isinstance(rf_stride, Fraction) else rf_stride * stride
    p = s.numerator
    return p if 1 <= p <= MAX_PERIOD else None


def residue_counts(dim, symbol, period: int, count) -> dict | None:
    """{r: count(dim at symbol = base + r)} over one period, or None if it does not repeat."""
    base = period * math.ceil(256 / period)
    first, second = {}, {}
    for r in range(period):
        first[r] = count(substitute(dim, {symbol.name: base + r}))
        second[r] = count(substitute(dim, {symbol.name: base + period + r}))
    return first if first == second else None


def describe(name: str, period: int, counts: dict) -> str:
    """'when H is odd', 'unless H is a multiple of 4', 'when H mod 3 is 1 or 2', 'for every H'."""
    bad = sorted(r for r, c in counts.items() if c > 0)
    if len(bad) == period:
        return f"for every {name}"
    if period == 2:
        return f"when {name} is {'odd' if bad == [1] else 'even'}"
    if len(bad) == period - 1:
        good = next(r for r in range(period) if r not in bad)
        return f"unless {name} is a multiple of {period}" if good == 0 else f"unless {name} mod {period} is {good}"
    runs = []
    for r in bad:
        if runs and r == runs[-1][1] + 1:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    parts = [str(a) if a == b else f"{a} or {b}" if b == a + 1 else f"{a} to {b}" for a, b in runs]
    listed = ", ".join(parts[:-1]) + (" or " if len(parts) > 1 else "") + parts[-1]
    return f"when {name} mod {period} is {listed}"
