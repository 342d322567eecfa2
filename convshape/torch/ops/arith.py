"""Element-wise arithmetic with a constant, a parameter or a buffer, and one-input functions."""
from __future__ import annotations

import torch

from .registry import Mapped, gathered, is_buffer, pattern, take_param
from ..trace import Ref

# the kinds for two tensors, and the op names of ScalarArith / ParamArith
TENSOR_KIND = {"add": "Add", "mul": "Mul", "sub": "Sub", "div": "Div", "maximum": "Maximum", "minimum": "Minimum"}


def arith(m, op, a, out, reverse_op=None):
    """x op y for tensors, scalars, parameters and buffers (reverse_op: the name when y comes first)."""
    x, y = a.get("input"), a.get("other")
    if a.get("alpha", 1) != 1:
        return f"{op} with alpha"
    if a.get("rounding_mode") is not None:
        return f"{op} with rounding_mode"
    xs, ys = isinstance(x, Ref), isinstance(y, Ref)
    px = xs and (m.param(x, buffers=True) is not None)
    py = ys and (m.param(y, buffers=True) is not None)
    if xs and ys and not px and not py:
        if op not in TENSOR_KIND:
            return f"{op} of two tensors"
        return Mapped([(TENSOR_KIND[op], {})], [x, y])
    if px and py or not (xs or ys):
        return f"{op} of two constants"
    tensor, other, swapped = (x, y, False) if xs and not px else (y, x, True)
    name = (reverse_op or op) if swapped else op
    if isinstance(other, Ref):  # a parameter or a buffer
        g = gathered(m, other)
        if isinstance(g, str):
            return f"{op} with {g}"
        if g is not None:  # a bias table gathered by a fixed index (relative-position attention biases)
            table, idx, dim = g
            return Mapped([("ParamArith", {"op": name, "shape": tuple(m.ops[other.name].value.shape),
                                           "table": tuple(table.value.shape), "index": tuple(idx.value.shape),
                                           "gather_dim": dim})], [tensor])
        src = take_param(m, other)
        if isinstance(src, str):
            return f"{op} with {src}"
        if op == "mul" and not is_buffer(src):
            from .merge import scale
            per_channel = scale(m, tensor, m.ops[other.name], out)
            if not isinstance(per_channel, str):
                return per_channel
        shape = tuple(m.ops[other.name].value.shape)
        args = {"op": name, "shape": shape} | ({"trainable": False} if is_buffer(src) else {})
        return Mapped([("ParamArith", args)], [tensor])
    if isinstance(other, bool) or not isinstance(other, (int, float)):
        return f"{op} with a {type(other).__name__}"
    if (tuple(out.shape) == m.shape(tensor) and (op, other) in (("add", 0), ("sub", 0), ("mul", 1), ("div", 1))
            and not swapped or (op, other, swapped) in (("add", 0, True), ("mul", 1, True))) \
            and out is m.ops[tensor.name].value:
        return Mapped([], [tensor])  # x.mul_(1), x += 0: in place, the same tensor
    # x * 1 and x + 0 otherwise make a new tensor (NF-Nets' act(x) * beta, beta = 1.0): ScalarArith below
    return Mapped([("ScalarArith", {"op": name, "value": float(other)})], [tensor])


@pattern("add", signature=("input", "other", "alpha"))
def add(m, name, a, out):
    return arith(m, "add", a, out, "add")


@pattern("mul", signature=("input", "other"))
def mul(m, name, a, out):
    return arith(m, "mul", a, out, "mul")


@pattern("sub", signature=("input", "other", "alpha"))
def sub(m, name, a, out):
    return arith(m, "sub", a, out, "rsub")


@pattern("rsub", signature=("input", "other", "alpha"))
def rsub(m, name, a, out):
    # Tensor.__rsub__(x, c) and torch.rsub(x, c) are c - x
    return arith(m, "sub", {"input": a.get("other"), "other": a.get("input"), "alpha": a.get("alpha", 1)}, out,
                 "rsub")


@pattern("truediv", "div", signature=("input", "other", "rounding_mode"))
def div(m, name, a, out):
    return arith(m, "div", a, out, "rdiv")


@pattern("rtruediv", "rdiv", signature=("input", "other"))
def rdiv(m, name, a, out):
    return arith(m, "div", {"input": a.get("other"), "other": a.get("input")}, out, "rdiv")


@pattern("pow", signature=("input", "exponent"))
def pow_(m, name, a, out):
    return arith(m, "pow", {"input": a.get("input"), "other": a.get("exponent")}, out, "rpow")


@pattern("rpow", signature=("input", "other"))
def rpow(m, name, a, out):
    return arith(m, "pow", {"input": a.get("other"), "other": a.get("input")}, out, "rpow")


@pattern("maximum", "minimum", signature=("input", "other"))
def maximum(m, name, a, out):
    return arith(m, name, a, out, name)


@pattern("clamp", "clip", signature=("input", "min", "max"))
@pattern("clamp_min", signature=("input", "min"))
@pattern("clamp_max", signature=("input", "max"))
def clamp(m, name, a, out):
    layers = []
    for bound, op in (("min", "maximum"), ("max", "minimum")):
        v = a.get(bound)
        if v is None:
            continue
        if isinstance(v, Ref) or isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"{name} with a tensor bound"
        layers.append(("ScalarArith", {"op": op, "value": float(v)}))
    return Mapped(layers, [a["input"]])


UNARY = ("rsqrt", "sqrt", "square", "exp", "log", "abs", "neg", "reciprocal", "sign", "erf", "sin", "cos")


@pattern(*UNARY)
def unary(m, name, a, out):
    x = a["input"]
    if not (isinstance(x, Ref) and isinstance(m.ops[x.name].value, torch.Tensor)):
        return f"{name} of a non-tensor"
    return Mapped([("UnaryOp", {"fn": name})], [x])


@pattern("addcmul", signature=("input", "tensor1", "tensor2", "value"))
def addcmul(m, name, a, out):
    """torch.addcmul(b, w, x, value=v) = b + v * w * x with b and w parameters, or both buffers
    (ConvNeXt-V2's GRN): one Affine, as torch makes no intermediate w * x (two ParamArith would)."""
    b, w, x = a.get("input"), a.get("tensor1"), a.get("tensor2")
    if m.param(w, buffers=True) is None and m.param(x, buffers=True) is not None:
        w, x = x, w  # the product commutes
    if not (isinstance(x, Ref) and m.param(x, buffers=True) is None) or m.param(w, buffers=True) is None \
            or m.param(b, buffers=True) is None:
        return "addcmul of tensors (only a parameter plus a parameter times a tensor maps)"
    value = a.get("value", 1)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "addcmul with a tensor value"
    srcs = []
    for ref in (w, b):
        g = gathered(m, ref)
        if g is not None:  # Affine holds its tensors whole; a gathered table has no Affine form
            return f"addcmul with {g}" if isinstance(g, str) else "addcmul with a gathered parameter table"
        src = take_param(m, ref)
        if isinstance(src, str):
            return f"addcmul with {src}"
        srcs.append(src)
    if is_buffer(srcs[0]) != is_buffer(srcs[1]):
        # Affine's trainable flag covers both: a learned weight with a fixed bias has no one answer
        return "addcmul with one buffer and one parameter (Affine holds both learned or both fixed)"
    shape, bias_shape = (tuple(m.ops[r.name].value.shape) for r in (w, b))
    args = {"shape": shape} | ({"bias_shape": bias_shape} if bias_shape != shape else {}) \
        | ({"value": float(value)} if value != 1 else {}) | ({"trainable": False} if is_buffer(srcs[0]) else {})
    return Mapped([("Affine", args)], [x])
