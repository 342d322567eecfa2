"""Reductions over dims: sum, mean (sum / count), amax, amin, norm (sqrt of the sum of squares);
float32 statistics for half inputs."""
from __future__ import annotations

from math import prod

from . import reference
from .common import opmath


@reference("Reduce")
def reduce(layer, xs, state):
    x = xs[0]
    rank = max(x.dim(), 1)
    dims = tuple(range(x.dim())) if layer.dim is None else (layer.dim,) if isinstance(layer.dim, int) else layer.dim
    dims = tuple(sorted(d % rank for d in dims))
    wide = opmath(x)
    if layer.op == "sum":
        out = wide.sum(dim=dims, keepdim=layer.keepdim)
    elif layer.op == "mean":
        out = wide.sum(dim=dims, keepdim=layer.keepdim) / prod(x.shape[d] for d in dims)
    elif layer.op == "amax":
        out = wide.amax(dim=dims, keepdim=layer.keepdim)
    elif layer.op == "amin":
        out = wide.amin(dim=dims, keepdim=layer.keepdim)
    elif layer.op == "norm":   # torch.linalg.vector_norm, ord 2
        out = (wide * wide).sum(dim=dims, keepdim=layer.keepdim).sqrt()
    else:
        raise ValueError(f"unknown reduction {layer.op!r}")
    return out.to(x.dtype)
