"""Element-wise arithmetic: a second tensor (Sub, Div, Maximum, Minimum), a constant (ScalarArith),
a tensor the layer holds (ParamArith, state `t`), bias + weight * x (Affine), one-input functions
(UnaryOp). Broadcasting as torch's; half-precision inputs are computed in float32 and cast back, as
torch's kernels do."""
from __future__ import annotations

import torch

from . import reference
from .common import opmath


def _maximum(a, b):
    """The larger, NaN where either is NaN (torch.maximum propagates NaN)."""
    return torch.where((a > b) | torch.isnan(a), a, b)


def _minimum(a, b):
    return torch.where((a < b) | torch.isnan(a), a, b)


@reference("Sub")
def sub(layer, xs, state):
    return xs[0] - xs[1]


@reference("Div")
def div(layer, xs, state):
    return xs[0] / xs[1]


@reference("Maximum")
def maximum(layer, xs, state):
    return _maximum(*torch.broadcast_tensors(xs[0], xs[1]))


@reference("Minimum")
def minimum(layer, xs, state):
    return _minimum(*torch.broadcast_tensors(xs[0], xs[1]))


def arith(op: str, x, t):
    """x op t; r-prefixed ops swap the operands (rsub: t - x, rdiv: t / x, rpow: t ** x)."""
    if op in ("maximum", "minimum"):
        t = t if isinstance(t, torch.Tensor) else torch.full((), t, dtype=x.dtype, device=x.device)
        return (_maximum if op == "maximum" else _minimum)(*torch.broadcast_tensors(x, t))
    a, b = (t, x) if op.startswith("r") else (x, t)
    base = op[1:] if op.startswith("r") else op
    if base == "add":
        return a + b
    if base == "sub":
        return a - b
    if base == "mul":
        return a * b
    if base == "div":
        return a / b
    if base == "pow":
        return a ** b
    raise ValueError(f"unknown arithmetic op {op!r}")


@reference("ScalarArith")
def scalar_arith(layer, xs, state):
    x = xs[0]
    value = layer.value
    if layer.op in ("maximum", "minimum"):   # torch compares with the value rounded to x's dtype
        value = torch.full((), value, dtype=x.dtype, device=x.device)
        return arith(layer.op, x, value)
    return arith(layer.op, opmath(x), value).to(x.dtype)


def gathered(t, idx, gather_dim: int, shape):
    """t itself, or with an index buffer table[idx] (gather_dim 0) or table[:, idx] (1) viewed as shape."""
    if idx is None:
        return t
    return (t[:, idx] if gather_dim == 1 else t[idx]).reshape(shape)


@reference("ParamArith")
def param_arith(layer, xs, state):
    """x op t; t gathered from a learned table by a fixed index (relative-position biases) when given."""
    x = xs[0]
    return arith(layer.op, x, gathered(state["t"], state.get("idx"), layer.gather_dim, layer.shape))


@reference("Affine")
def affine(layer, xs, state):
    """bias + value * weight * x, computed in float32 for half inputs as torch's addcmul is."""
    x = xs[0]
    return (opmath(state["bias"]) + layer.value * opmath(state["weight"]) * opmath(x)).to(x.dtype)


UNARY = {
    "rsqrt": lambda x: 1 / torch.sqrt(x),
    "sqrt": torch.sqrt,
    "square": lambda x: x * x,
    "exp": torch.exp,
    "log": torch.log,
    "abs": torch.abs,
    "neg": lambda x: -x,
    "reciprocal": lambda x: 1 / x,
    "sign": torch.sign,
    "erf": torch.erf,
    "sin": torch.sin,
    "cos": torch.cos,
}


@reference("UnaryOp")
def unary_op(layer, xs, state):
    x = xs[0]
    return UNARY[layer.fn](opmath(x)).to(x.dtype)
