"""Concatenation and stacking, and the per-channel parameter scale (LayerScale) of a mul."""
from __future__ import annotations

from .registry import Mapped, is_buffer, pattern, take_param


def scale(m, x, p, out):
    """parameter * tensor: a LayerScale when the parameter holds one value per channel of a dim."""
    shape = tuple(p.value.shape)
    rank = len(m.shape(x))
    nontrivial = [i for i, s in enumerate(shape) if s != 1]
    if len(nontrivial) != 1:
        return "mul by a parameter that is not per-channel"
    dim = nontrivial[0] - len(shape)  # counted from the right, as broadcasting does
    return Mapped([("LayerScale", {} if dim % rank == 1 else {"dim": dim})], [x])


@pattern("cat", "concat", signature=("tensors", "dim"))
def cat(m, name, a, out):
    tensors = list(a["tensors"])
    dim = a.get("dim", 0)
    learned = [t for t in tensors if m.param(t, buffers=True) is not None]
    if learned:  # ViT's class token: cat([token.expand(N, -1, -1), x], 1)
        if len(tensors) != 2 or learned[0] is not tensors[0]:
            return "cat of a parameter that is not the first of two"
        src = take_param(m, tensors[0], expanded=True)
        if isinstance(src, str) or is_buffer(src):
            return f"cat with {src if isinstance(src, str) else 'a buffer'}"
        shape = tuple(src.value.shape)
        rank = len(m.shape(tensors[1]))
        if len(shape) != rank:
            return "cat of a parameter of another rank"
        return Mapped([("ParamConcat", {"shape": shape} | ({} if dim % rank == 1 else {"dim": dim}))], [tensors[1]])
    if len(tensors) == 1:
        return Mapped([], tensors)
    return Mapped([("Concat", {} if dim == 1 else {"dim": dim})], tensors)


@pattern("stack", signature=("tensors", "dim"))
def stack(m, name, a, out):
    tensors = list(a["tensors"])
    if any(m.param(t, buffers=True) is not None for t in tensors):
        return "stack of a parameter"
    dim = a.get("dim", 0)
    return Mapped([("Stack", {} if dim == 0 else {"dim": dim})], tensors)
