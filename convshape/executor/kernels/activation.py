"""Activations from their formulas (element-wise math only), computed in float32 for half inputs."""
from __future__ import annotations

import math

import torch

from . import reference
from .common import opmath


def elementwise(*kinds):
    """Register f(layer, x) on float32-or-wider x; the result is cast back to the input's dtype."""
    def wrap(f):
        def kernel(layer, xs, state):
            return f(layer, opmath(xs[0])).to(xs[0].dtype)
        kernel.__name__ = kernel.__qualname__ = f.__name__
        kernel.__doc__ = f.__doc__
        return reference(*kinds)(kernel)
    return wrap


def _sigmoid(x):
    return 1 / (1 + torch.exp(-x))


def _softplus(x):
    return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))   # log(1 + e^x) without overflow


@elementwise("ReLU")
def relu(layer, x):
    return torch.where(x > 0, x, torch.zeros_like(x))


@elementwise("ReLU6")
def relu6(layer, x):
    return x.clamp(0, 6)


@elementwise("LeakyReLU")
def leaky_relu(layer, x):
    return torch.where(x > 0, x, layer.negative_slope * x)


@elementwise("ELU")
def elu(layer, x):
    return torch.where(x > 0, x, layer.alpha * torch.expm1(x))


@elementwise("GELU")
def gelu(layer, x):
    """x * Phi(x), or the tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))."""
    if layer.approximate == "tanh":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


@elementwise("SiLU")
def silu(layer, x):
    return x * _sigmoid(x)


@elementwise("Mish")
def mish(layer, x):
    return x * torch.tanh(_softplus(x))


@elementwise("Sigmoid")
def sigmoid(layer, x):
    return _sigmoid(x)


@elementwise("Tanh")
def tanh(layer, x):
    return torch.tanh(x)


@elementwise("Hardswish")
def hardswish(layer, x):
    return x * (x + 3).clamp(0, 6) / 6


@elementwise("Hardsigmoid")
def hardsigmoid(layer, x):
    return (x + 3).clamp(0, 6) / 6


@reference("Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
           "StochasticDepth")
def identity(layer, xs, state):
    """Identity; the dropout family and stochastic depth are the identity at inference."""
    return xs[0]


@reference("PReLU")
def prelu(layer, xs, state):
    """x if x > 0 else a x, with one a or one per channel (dim 1; dim 0 of an unbatched 1-D input)."""
    x = opmath(xs[0])
    a = opmath(state["weight"])
    if a.numel() > 1 and x.dim() >= 2:
        a = a.view([1, -1] + [1] * (x.dim() - 2))
    return torch.where(x > 0, x, a * x).to(xs[0].dtype)


def softmax_dim(layer, x) -> int:
    """dim=None is torch's legacy choice: 0 for 0-, 1- and 3-D inputs, else 1."""
    if layer.dim is not None:
        return layer.dim
    return 0 if x.dim() in (0, 1, 3) else 1


@reference("Softmax")
def softmax(layer, xs, state):
    x = opmath(xs[0])
    d = softmax_dim(layer, x)
    e = torch.exp(x - x.amax(dim=d, keepdim=True))
    return (e / e.sum(dim=d, keepdim=True)).to(xs[0].dtype)


@reference("LogSoftmax")
def log_softmax(layer, xs, state):
    x = opmath(xs[0])
    d = softmax_dim(layer, x)
    shifted = x - x.amax(dim=d, keepdim=True)
    return (shifted - torch.log(torch.exp(shifted).sum(dim=d, keepdim=True))).to(xs[0].dtype)
