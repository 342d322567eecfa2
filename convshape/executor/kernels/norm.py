"""Normalization from its formula: y = (x - mean) / sqrt(var + eps) * weight + bias, with biased
variance; statistics in float32 for half-precision inputs."""
from __future__ import annotations

from . import ranks, reference
from .common import opmath, pad, windows


def _channel_view(t, x):
    """A per-channel vector shaped to broadcast over dim 1 of x."""
    return t.view([1, -1] + [1] * (x.dim() - 2))


def _normalize(x, dims, eps):
    mean = x.mean(dim=dims, keepdim=True)
    var = (x - mean).square().mean(dim=dims, keepdim=True)
    return (x - mean) / (var + eps).sqrt()


def _affine(y, state, view):
    if state.get("weight") is not None:
        y = y * view(opmath(state["weight"]))
    if state.get("bias") is not None:
        y = y + view(opmath(state["bias"]))
    return y


@reference(*ranks("BatchNorm"), "FrozenBatchNorm2d")
def batch_norm(layer, xs, state):
    """Inference: running statistics when tracked, else the batch's own (torch does the same in eval).
    torchvision's FrozenBatchNorm2d is the tracked case with weight and bias held as buffers."""
    x = opmath(xs[0])
    if state.get("running_mean") is not None:
        mean, var = _channel_view(opmath(state["running_mean"]), x), _channel_view(opmath(state["running_var"]), x)
        y = (x - mean) / (var + layer.eps).sqrt()
    else:
        y = _normalize(x, (0,) + tuple(range(2, x.dim())), layer.eps)
    return _affine(y, state, lambda t: _channel_view(t, x)).to(xs[0].dtype)


@reference(*ranks("InstanceNorm"))
def instance_norm(layer, xs, state):
    """Per sample and channel over the spatial dims; running statistics when tracked (eval)."""
    n = getattr(layer, "ndim", None) or int(layer.kind[-2])
    x = opmath(xs[0])
    unbatched = x.dim() == n + 1
    if unbatched:
        x = x.unsqueeze(0)
    if state.get("running_mean") is not None:
        mean, var = _channel_view(opmath(state["running_mean"]), x), _channel_view(opmath(state["running_var"]), x)
        y = (x - mean) / (var + layer.eps).sqrt()
    else:
        y = _normalize(x, tuple(range(2, x.dim())), layer.eps)
    y = _affine(y, state, lambda t: _channel_view(t, x))
    return (y.squeeze(0) if unbatched else y).to(xs[0].dtype)


@reference("LayerNorm")
def layer_norm(layer, xs, state):
    x = opmath(xs[0])
    shape = layer.normalized_shape if isinstance(layer.normalized_shape, tuple) else (layer.normalized_shape,)
    y = _normalize(x, tuple(range(-len(shape), 0)), layer.eps)
    return _affine(y, state, lambda t: t).to(xs[0].dtype)


@reference("GroupNorm")
def group_norm(layer, xs, state):
    x = opmath(xs[0])
    grouped = x.reshape(x.shape[0], layer.num_groups, -1)
    y = _normalize(grouped, (2,), layer.eps).view(x.shape)
    return _affine(y, state, lambda t: _channel_view(t, x)).to(xs[0].dtype)


@reference("LocalResponseNorm")
def local_response_norm(layer, xs, state):
    """b_c = a_c / (k + alpha/n * sum of a_c'^2 over the n channels c - n//2 .. c + (n-1)//2)^beta."""
    x = opmath(xs[0])
    size = layer.size
    squares = pad(x.square().movedim(1, -1), [(size // 2, (size - 1) // 2)])
    sums = windows(squares, squares.dim() - 1, (size,), (1,), (1,)).sum(-1).movedim(-1, 1)
    return (x / (layer.k + layer.alpha / size * sums).pow(layer.beta)).to(xs[0].dtype)


@reference("Normalize")
def normalize(layer, xs, state):
    """F.normalize with p = 2: x / max(||x||_2 along dim, eps)."""
    x = opmath(xs[0])
    norm = x.square().sum(dim=layer.dim, keepdim=True).sqrt()
    return (x / norm.clamp(min=layer.eps)).to(xs[0].dtype)
