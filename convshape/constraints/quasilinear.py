"""Closed-form reasoning about sizes built from floors of rational linear functions of one symbol.

A dim e(x) is quasi-linear with slope a and period P when e(x + P) = e(x) + a*P for every integer
x. Conv, pooling, padding, transposed conv and integer up-sampling all keep this form:

    floor(e/s):   slope a/s, period P * den(a*P/s)   (the smallest multiple of P with an integral shift)
    e1 + e2, c*e: slopes add / scale, periods combine by lcm

so a condition `e1 >= e2` or `e1 == e2` has a difference d(x) = a*x + p(x) with p periodic. With
a == 0 its truth is periodic from x = 1 on; otherwise it is constant once |a*x| outgrows the
range of p, which one period of p bounds exactly. This proves a rule for every size, not only
for the sizes that were enumerated.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

import sympy as sp

from .compile import Unsupported, compile_values

MAX_PERIOD = 1 << 16  # beyond this, periodic parts are not tabulated: enumeration only


@dataclass(frozen=True)
class QuasiLinear:
    slope: Fraction
    period: int


@dataclass(frozen=True)
class EventuallyPeriodic:
    """The truth of a condition is `period`-periodic for every x >= start."""
    start: int
    period: int


def _lcm(a, b):
    return a // gcd(a, b) * b


def quasi_linear(e, x, memo=None) -> QuasiLinear | None:
    """Slope and period of e as a function of the integer symbol x, or None when not quasi-linear."""
    memo = {} if memo is None else memo
    if e in memo:
        return memo[e]
    out = _ql(e, x, memo)
    memo[e] = out
    return out


def _ql(e, x, memo):
    if e.is_Symbol:
        return QuasiLinear(Fraction(1), 1) if e == x else None
    if e.is_Rational:
        return QuasiLinear(Fraction(0), 1)
    if isinstance(e, sp.Add):
        slope, period = Fraction(0), 1
        for a in e.args:
            q = quasi_linear(a, x, memo)
            if q is None:
                return None
            slope += q.slope
            period = _lcm(period, q.period)
        return QuasiLinear(slope, period)
    if isinstance(e, sp.Mul):
        const, inner = Fraction(1), None
        for a in e.args:
            if a.is_Rational:
                const *= Fraction(int(a.p), int(a.q))
            elif inner is None:
                inner = a
            else:
                return None  # a product of two sizes (a flattened H*W) is not quasi-linear
        if inner is None:
            return QuasiLinear(Fraction(0), 1)
        q = quasi_linear(inner, x, memo)
        return None if q is None else QuasiLinear(const * q.slope, q.period)
    if isinstance(e, (sp.floor, sp.ceiling)):
        q = quasi_linear(e.args[0], x, memo)
        if q is None:
            return None
        shift = q.slope * q.period
        return QuasiLinear(q.slope, q.period * shift.denominator)
    if isinstance(e, sp.Mod):
        a, m = e.args
        if not m.is_Rational:
            return None
        q = quasi_linear(sp.floor(a / m), x, memo)
        qa = quasi_linear(a, x, memo)
        return None if q is None or qa is None else QuasiLinear(Fraction(0), _lcm(q.period, qa.period))
    if isinstance(e, (sp.Max, sp.Min)):
        qs = [quasi_linear(a, x, memo) for a in e.args]
        if any(q is None for q in qs) or len({q.slope for q in qs}) != 1:
            return None  # different slopes: the winner changes once, not periodically
        period = 1
        for q in qs:
            period = _lcm(period, q.period)
        return QuasiLinear(qs[0].slope, period)
    if isinstance(e, sp.Piecewise):
        slope, period = None, 1
        for value, cond in e.args:
            q = quasi_linear(value, x, memo)
            if q is None or (slope is not None and q.slope != slope):
                return None
            slope = q.slope
            period = _lcm(period, q.period)
            if cond is not sp.true:
                t = truth_pattern(cond, x, memo, everywhere=True)
                if t is None:
                    return None
                period = _lcm(period, t.period)
        return QuasiLinear(slope, period)
    return None


_SIGNS = {sp.Ge: ">=", sp.Gt: ">", sp.Le: "<=", sp.Lt: "<", sp.Eq: "==", sp.Ne: "!="}


def truth_pattern(cond, x, memo=None, everywhere=False) -> EventuallyPeriodic | None:
    """Where the truth of `cond` becomes periodic, and with which period; None if unknown.

    everywhere=True asks for periodicity from x = 1 on (needed inside Piecewise values).
    """
    memo = {} if memo is None else memo
    if cond is sp.true or cond is sp.false:
        return EventuallyPeriodic(1, 1)
    if isinstance(cond, (sp.And, sp.Or)):
        parts = [truth_pattern(a, x, memo, everywhere) for a in cond.args]
        if any(p is None for p in parts):
            return None
        start, period = 1, 1
        for p in parts:
            start, period = max(start, p.start), _lcm(period, p.period)
        return EventuallyPeriodic(start, period)
    if isinstance(cond, sp.Not):
        return truth_pattern(cond.args[0], x, memo, everywhere)
    if type(cond) not in _SIGNS:
        return None
    diff = cond.lhs - cond.rhs
    q = quasi_linear(diff, x, memo)
    if q is None or q.period > MAX_PERIOD:
        return None
    if q.slope == 0:
        return EventuallyPeriodic(1, q.period)
    if everywhere:
        return None
    # d(x) = a*x + p(x); bound p over one period to find where the sign of d settles
    try:
        f = compile_values([diff], [x])
    except Unsupported:
        return None
    rest = [Fraction(f(v)[0]) - q.slope * v for v in range(1, q.period + 1)]
    bound = max(abs(r) for r in rest)
    start = int(bound / abs(q.slope)) + 2  # beyond this, |a*x| > |p(x)|: the sign of d is the sign of a
    return EventuallyPeriodic(max(start, 1), 1)
