"""Worked configurations that every layer kind declares for the registry-wide contract test.

A layer class lists `examples = (Example(...), Rejected(...), ...)`. tests/test_layer_contract.py
builds each valid example in convshape and as a live torch module and compares the two; each
Rejected example must be refused by torch (with the quoted message) and by convshape. A kind with
no example fails that test, so a new kind is covered without any further wiring.

Rank-generic base classes (Conv, pools, norms, pads) write their examples once: `PerAxis(a, b, c)`
stands for per-spatial-axis values, and the rank-n class keeps the first n of them, both in
arguments (`kernel_size: PerAxis(3, 2, 4)` -> (3, 2) for a 2-d layer) and in input shapes
(`(2, 4, PerAxis(9, 8, 7))` -> (2, 4, 9, 8)). A PerAxis of pairs is flattened after the cut, for
torch's pad tuples: `PerAxis((1, 2), (0, 3), (2, 0))` -> (1, 2, 0, 3) for a 2-d layer.
"""
from __future__ import annotations

from dataclasses import dataclass


# torch's messages for an input of the wrong rank vary ("Expected 3D or 4D", "2 to 3 dimensions")
WRONG_RANK = r"(?i)dim|\dD"


class PerAxis(tuple):
    """Values for spatial axes 1, 2, 3; a rank-n layer keeps the first n."""

    def __new__(cls, *values):
        return super().__new__(cls, values)


@dataclass(frozen=True)
class Example:
    """A configuration torch accepts: convshape must agree with the live module on it."""

    args: dict
    inputs: tuple          # one shape per input tensor
    note: str = ""
    # torch's meta-device shape functions refuse a few configurations that its CPU kernels accept;
    # such an example quotes the meta message here, and the contract test expects exactly that
    meta_says: str = ""

    rejected = False

    def at_rank(self, n: int | None) -> "Example":
        return type(self)(**{**self.__dict__, "args": _expand_args(self.args, n),
                             "inputs": tuple(_expand_shape(s, n) for s in self.inputs)})


@dataclass(frozen=True)
class Rejected(Example):
    """A configuration torch refuses (its message contains `torch_says`): convshape must refuse it too."""

    torch_says: str = ""

    rejected = True


def _cut(values: PerAxis, n: int | None) -> tuple:
    if n is None:
        raise ValueError("PerAxis is only meaningful on a layer class with a rank (ndim)")
    kept = tuple(values[:n])
    if kept and all(isinstance(v, tuple) for v in kept):
        return tuple(x for pair in kept for x in pair)
    return kept


def _expand_args(args: dict, n: int | None) -> dict:
    return {k: _cut(v, n) if isinstance(v, PerAxis) else v for k, v in args.items()}


def _expand_shape(shape, n: int | None) -> tuple:
    out: list = []
    for d in shape:
        out.extend(_cut(d, n) if isinstance(d, PerAxis) else (d,))
    return tuple(out)


def examples_of(cls) -> tuple:
    """The class's examples with PerAxis values cut to its rank."""
    n = getattr(cls, "ndim", None)
    return tuple(e.at_rank(n) for e in cls.examples)
