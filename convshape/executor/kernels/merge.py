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
