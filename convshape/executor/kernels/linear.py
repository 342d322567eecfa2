"""Linear maps: y = x W^T + b over the last dim, and the per-channel layer scale y = gamma * x."""
from __future__ import annotations

from . import reference


@reference("Linear")
def linear(layer, xs, state):
    out = xs[0] @ state["weight"].t()
    return out + state["bias"] if state.get("bias") is not None else out


@reference("LayerScale")
def layer_scale(layer, xs, state):
    x = xs[0]
    shape = [1] * x.dim()
    shape[layer.dim % x.dim()] = -1
    return x * state["gamma"].view(shape)
