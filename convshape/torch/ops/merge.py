"""Element-wise arithmetic between tensors (residual add, gates) and concatenation."""
from __future__ import annotations

from .registry import Mapped, pattern
from ..trace import Ref


def binary(m, kind, a, out):
    x, y = a.get("input"), a.get("other")
    if isinstance(x, Ref) and isinstance(y, Ref):
        px, py = m.param(x), m.param(y)
        if kind == "Mul" and (px or py):
            return scale(m, y if px else x, px or py, out)
        if px or py or m.is_fixed(x) or m.is_fixed(y):
            return f"{kind.lower()} with a {'parameter' if px or py else 'buffer'}"
        if a.get("alpha", 1) != 1:
            return "add with alpha"
        return Mapped([(kind, {})], [x, y])
    # x + 0 and x * 1 (re-parameterizable branches switched off): the identity
    tensor, const = (x, y) if isinstance(x, Ref) else (y, x)
    if isinstance(tensor, Ref) and not isinstance(const, Ref) and const == (0 if kind == "Add" else 1) \
            and a.get("alpha", 1) == 1 and tuple(out.shape) == m.shape(tensor):
        return Mapped([], [tensor])
    return f"{kind.lower()} with a constant"


def scale(m, x, p, out):
    """parameter * tensor: a LayerScale when the parameter holds one value per channel of a dim."""
    shape = tuple(p.value.shape)
    rank = len(m.shape(x))
    nontrivial = [i for i, s in enumerate(shape) if s != 1]
    if len(nontrivial) != 1:
        return "mul by a parameter that is not per-channel"
    dim = nontrivial[0] - len(shape)  # counted from the right, as broadcasting does
    return Mapped([("LayerScale", {} if dim % rank == 1 else {"dim": dim})], [x])


@pattern("add", signature=("input", "other", "alpha"))
def add(m, name, a, out):
    return binary(m, "Add", a, out)


@pattern("mul", signature=("input", "other"))
def mul(m, name, a, out):
    return binary(m, "Mul", a, out)


@pattern("cat", "concat", signature=("tensors", "dim"))
def cat(m, name, a, out):
    tensors = list(a["tensors"])
    if len(tensors) == 1:
        return Mapped([], tensors)
    dim = a.get("dim", 0)
    return Mapped([("Concat", {} if dim == 1 else {"dim": dim})], tensors)
