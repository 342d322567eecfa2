"""Small torch modules for layer kinds that torch.nn has no class for (merges, reshapes, scale).

Class names equal the spec's layer kinds, so a built module reads like its spec.
"""
from __future__ import annotations

import torch
from torch import nn


class Add(nn.Module):
    """Sum of all inputs (broadcasting)."""

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Mul(nn.Module):
    """Product of all inputs (broadcasting), e.g. a squeeze-excitation gate."""

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """torch.cat along `dim`."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Permute(nn.Module):
    """x.permute(*dims)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = list(dims)

    def forward(self, x):
        return x.permute(*self.dims)

    def extra_repr(self):
        return f"dims={self.dims}"


class Reshape(nn.Module):
    """x.reshape(*shape)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = list(shape)

    def forward(self, x):
        return x.reshape(*self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


class LayerScale(nn.Module):
    """gamma * x with one learned gamma per channel of `dim` (ConvNeXt's layer_scale)."""

    def __init__(self, channels: int, dim: int = 1, init: float = 1e-6, trailing: int = 0):
        super().__init__()
        self.dim = dim
        # (channels, 1, ..., 1) with `trailing` ones: torchvision ConvNeXt's (C, 1, 1) for dim 1 of NCHW
        self.gamma = nn.Parameter(torch.full((channels,) + (1,) * trailing, float(init)))

    def forward(self, x):
        if not -x.dim() <= self.dim < x.dim():
            raise IndexError(f"LayerScale: dim={self.dim} is out of range for a {x.dim()}-D input")
        d = self.dim % x.dim()
        if x.shape[d] != self.gamma.numel():
            raise RuntimeError(f"LayerScale: {self.gamma.numel()} channels but dim {self.dim} of the input "
                               f"has size {x.shape[d]}")
        shape = [1] * x.dim()
        shape[d] = -1
        return x * self.gamma.reshape(shape)


class Narrow(nn.Module):
    """x.narrow(dim, start, length): one part of a chunk or split."""

    def __init__(self, dim: int, start: int, length: int):
        super().__init__()
        self.dim, self.start, self.length = dim, start, length

    def forward(self, x):
        return x.narrow(self.dim, self.start, self.length)

    def extra_repr(self):
        return f"dim={self.dim}, start={self.start}, length={self.length}"
