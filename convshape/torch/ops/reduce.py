"""Reductions over any dims: sum, amax, amin, and mean where it is no global spatial pool (pool.py)."""
from __future__ import annotations

from .registry import Mapped, pattern


def reduce(m, op, a, out):
    x = a["input"]
    if a.get("dtype") is not None:
        return f"{op} with a dtype"
    dim = m.value(a.get("dim"))
    if isinstance(dim, list):
        dim = tuple(dim)
    if dim == ():  # torch.sum(x, dim=()) reduces every dim
        dim = None
    args = {"op": op} | ({"dim": dim} if dim is not None else {}) | ({"keepdim": True} if a.get("keepdim") else {})
    return Mapped([("Reduce", args)], [x])


@pattern("sum", signature=("input", "dim", "keepdim", "dtype"))
@pattern("amax", "amin", signature=("input", "dim", "keepdim"))
def sum_(m, name, a, out):
    return reduce(m, name, a, out)
