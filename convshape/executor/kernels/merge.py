"""Merges of several tensors: broadcasting sum and product, concatenation along a dim."""
from __future__ import annotations

import torch

from . import reference


@reference("Add")
def add(layer, xs, state):
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


@reference("Mul")
def mul(layer, xs, state):
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


@reference("Concat")
def concat(layer, xs, state):
    return torch.cat(xs, dim=layer.dim)


@reference("Stack")
def stack(layer, xs, state):
    """Each input gains a dim of 1 at `dim` (counted in the output), then they are concatenated along it."""
    d = layer.dim % (xs[0].dim() + 1)
    return torch.cat([x.reshape(*x.shape[:d], 1, *x.shape[d:]) for x in xs], dim=d)


@reference("ParamConcat")
def param_concat(layer, xs, state):
    """The learned `token`, its size-1 dims repeated to the input's size (except along `dim`), then the input."""
    x, token = xs[0], state["token"]
    d = layer.dim % x.dim()
    sizes = [s if i != d and t == 1 else t for i, (t, s) in enumerate(zip(token.shape, x.shape))]
    return torch.cat([token.expand(*sizes), x], dim=d)
