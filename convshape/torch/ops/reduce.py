"""Reductions over any dims: sum, amax, amin, the 2-norm, and mean where it is no global spatial pool (pool.py)."""
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


@pattern("norm", signature=("input", "p", "dim", "keepdim", "dtype"))
def norm(m, name, a, out):
    """x.norm(p=2, dim) / torch.norm: the Euclidean norm ('fro' over given dims is the same)."""
    if a.get("p", "fro") not in (2, 2.0, "fro") or a.get("p") == "fro" and a.get("dim") is None and \
            len(m.shape(a["input"])) > 2:
        return f"norm with p={a.get('p')!r}"
    return reduce(m, "norm", a, out)


@pattern("linalg_vector_norm", "vector_norm", signature=("input", "ord", "dim", "keepdim", "dtype"))
def vector_norm(m, name, a, out):
    if a.get("ord", 2) not in (2, 2.0):
        return f"vector_norm with ord={a.get('ord')!r}"
    return reduce(m, "norm", a, out)


@pattern("normalize", signature=("input", "p", "dim", "eps"))
def normalize(m, name, a, out):
    """F.normalize(x, p=2, dim, eps)."""
    if a.get("p", 2.0) not in (2, 2.0):
        return f"normalize with p={a.get('p')!r}"
    args = {k: v for k, v in (("dim", a.get("dim", 1)), ("eps", a.get("eps", 1e-12))) if v != {"dim": 1, "eps": 1e-12}[k]}
    return Mapped([("Normalize", args)], [a["input"]])
