"""Dimension arithmetic that works on plain ints (fast path) and on sympy expressions.

sympy is imported only when a symbol appears, so concrete analysis never pays for it.
"""
from __future__ import annotations

import contextvars
from fractions import Fraction
from typing import Any, Union

from .errors import ShapeError

Dim = Union[int, Any]  # int, or a sympy expression once symbols are involved
Shape = tuple


def is_concrete(x) -> bool:
    return type(x) is int


def all_concrete(xs) -> bool:
    return all(type(x) is int for x in xs)


def _sympy():
    import sympy  # deferred: costs ~0.35 s and is only needed for symbolic dims
    return sympy


def symbol(name: str):
    """A positive integer symbol (input sizes are >= 1)."""
    return _sympy().Symbol(name, integer=True, positive=True)


def floordiv(a, b):
    if type(a) is int and type(b) is int:
        return a // b
    sp = _sympy()
    return sp.floor(sp.Rational(1, 1) * a / b)


def ceildiv(a, b):
    if type(a) is int and type(b) is int:
        return -(-a // b)
    sp = _sympy()
    return sp.ceiling(sp.Rational(1, 1) * a / b)


def dmax(a, b):
    if type(a) is int and type(b) is int:
        return a if a >= b else b
    return _sympy().Max(a, b)


def dmin(a, b):
    if type(a) is int and type(b) is int:
        return a if a <= b else b
    return _sympy().Min(a, b)


def prod(xs):
    out = 1
    for x in xs:
        out = out * x
    return out


def total(xs):
    """Sum many dims at once (sympy.Add over a list is linear; repeated + is quadratic)."""
    ints = 0
    syms = []
    for x in xs:
        if type(x) is int:
            ints += x
        else:
            syms.append(x)
    if not syms:
        return ints
    return _sympy().Add(ints, *syms)


def simplify(x):
    if type(x) is int:
        return x
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else x
    try:
        if x.is_Integer:
            return int(x)
    except AttributeError:
        pass
    return x


def substitute(x, values: dict):
    """Evaluate a dim at concrete symbol values (name -> int)."""
    if type(x) is int:
        return x
    sp = _sympy()
    subs = {s: values[s.name] for s in x.free_symbols if s.name in values}
    return simplify(sp.sympify(x).subs(subs))


def to_json(x):
    """ints stay ints; symbolic dims become sympy-parseable strings."""
    if type(x) is int:
        return x
    if isinstance(x, bool):
        return x
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else str(x)
    x = simplify(x)
    if type(x) is int:
        return x
    return str(x)


def shape_str(shape) -> str:
    return "[" + ", ".join(str(to_json(d)) for d in shape) + "]"


# Conditions that must hold for a symbolic input are collected here while a layer runs;
# concrete violations raise at once.
_conditions: contextvars.ContextVar[list | None] = contextvars.ContextVar("convshape_conditions", default=None)


class Condition:
    """A symbolic requirement `expr` (a sympy relational) with its human explanation.

    The message may be given as a callable: printing sympy expressions is slow, so it is
    rendered only when someone reads it.
    """

    __slots__ = ("expr", "_message", "argument", "layer")

    def __init__(self, expr, message, argument: str | None = None):
        self.expr = expr
        self._message = message
        self.argument = argument
        self.layer = None

    @property
    def message(self) -> str:
        if callable(self._message):
            self._message = self._message()
        return self._message

    def __repr__(self):
        return f"Condition({self.expr}, {self.message!r})"


def collect_conditions():
    """Context manager-ish: returns (token, list) for analysis to gather symbolic conditions."""
    bucket: list = []
    token = _conditions.set(bucket)
    return token, bucket


def release_conditions(token):
    _conditions.reset(token)


def _text(message) -> str:
    return message() if callable(message) else message


def require_ge(value, bound, message, *, argument: str | None = None, received=None):
    """Require value >= bound: raise on a concrete violation, record a condition when symbolic.

    `message` is a string or a zero-argument callable returning one (rendered only when needed).
    """
    if type(value) is int and type(bound) is int:
        if value < bound:
            raise ShapeError(_text(message), argument=argument, value=received)
        return
    _decide(_sympy().Ge(value, bound), message, argument, received)


def _decide(rel, message, argument, received):
    """A sympy boolean: nothing when true, ShapeError when false, a recorded Condition otherwise."""
    sp = _sympy()
    if rel is sp.true:
        return
    if rel is sp.false:
        raise ShapeError(_text(message), argument=argument, value=received)
    bucket = _conditions.get()
    if bucket is not None:
        bucket.append(Condition(rel, message, argument))


def require_any(relations, message, *, argument: str | None = None, received=None):
    """Require at least one of several sympy relations (a disjunction), e.g. torch rules that hold
    unless another dim is large enough; raise when none can hold, record an Or when undecided."""
    _decide(_sympy().Or(*relations), message, argument, received)


def require_eq(a, b, message, *, argument: str | None = None, received=None):
    """Require a == b: raise when concrete and different, record a condition when symbolic."""
    if type(a) is int and type(b) is int:
        if a != b:
            raise ShapeError(_text(message), argument=argument, value=received)
        return
    if a == b:  # structurally identical expressions: the common case at residual adds
        return
    sp = _sympy()
    diff = sp.expand(sp.sympify(a) - b)
    if diff == 0:
        return
    if diff.is_number:
        raise ShapeError(_text(message), argument=argument, value=received)
    bucket = _conditions.get()
    if bucket is not None:
        bucket.append(Condition(sp.Eq(a, b), message, argument))


def require_broadcast(a, b, message, *, argument: str | None = None, received=None):
    """Require sizes a and b to broadcast (torch: equal, or either is 1); returns the result size.

    Symbolic sizes that differ may still broadcast at the sizes where one of them is 1, so the
    condition recorded is Eq(a, b) | Eq(a, 1) | Eq(b, 1) and the result is Max(a, b).
    """
    if type(a) is int and type(b) is int:
        if a != b and a != 1 and b != 1:
            raise ShapeError(_text(message), argument=argument, value=received)
        return a if b == 1 else b
    if a == b:
        return a
    sp = _sympy()
    if sp.expand(sp.sympify(a) - b) == 0:
        return a
    rel = sp.Or(sp.Eq(a, b), sp.Eq(a, 1), sp.Eq(b, 1))
    if rel is sp.false:
        raise ShapeError(_text(message), argument=argument, value=received)
    if rel is not sp.true:
        bucket = _conditions.get()
        if bucket is not None:
            bucket.append(Condition(rel, message, argument))
    return sp.Max(a, b)


def as_fraction(x):
    return x if isinstance(x, Fraction) else Fraction(x)


def numel_of(shape):
    return prod(shape)
