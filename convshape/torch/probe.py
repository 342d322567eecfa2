"""Empirical probe of the theoretical receptive field: which input positions CAN influence an output.

Plain gradients measure less than that: a max pool routes the gradient to one position per window
and a ReLU that is off passes none, so the gradient of a live network shows the effective field of
one particular input. The probe therefore differentiates a *dependency surrogate* of the module:

- every element-wise nonlinearity (ReLU, SiLU, Hardswish, ...) becomes the identity;
- max pooling becomes sum pooling over the same windows (kernel, stride, padding, dilation,
  ceil_mode), and hands on the real pool's indices when it returns them; max unpooling becomes a
  transposed convolution with an all-ones kernel (each value reaches every position of its window);
  adaptive max pooling becomes adaptive average pooling;
- softmax along a dim becomes x + sum(x) along that dim (it still mixes the whole dim);
- convshape's Add and Mul merges become the mean and the geometric mean of their inputs (same
  dependencies, no growth with depth);
- normalizations that compute statistics from the input (LayerNorm, GroupNorm, InstanceNorm,
  BatchNorm without running statistics) become x + mean(x) over the dims they read; LocalResponseNorm
  (a window over channels) becomes the identity;
- every weight is positive, (0.5..1.5) / fan-in, so each output is a weighted average of its
  inputs; biases are 0 and other per-channel parameters 1;
  batch norm uses unit statistics, dropout is off (eval mode): activations stay near the input's
  scale at any depth;
- the input is positive (0.5 to 1.5, random, so normalization layers see generic values).

The surrogate is then a composition of maps whose partial derivatives are all positive wherever
the original has a dependency path, and every value stays positive and O(1), so no sum of path
contributions can cancel, overflow or vanish: an input position gets a non-zero gradient exactly
when some path of the graph connects it to the output unit.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

_POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Sigmoid,
              nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus, nn.SELU, nn.CELU,
              nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.Threshold, nn.Hardshrink, nn.Softshrink,
              nn.RReLU)


class SumPool(nn.Module):
    """Sum over the windows a max pool reads (a depthwise convolution with an all-ones kernel)."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        self.pool = pool  # the original max pool: gives the windows and the output size

    def forward(self, x):
        p = self.pool
        nd = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}[type(p)]
        k, s, pad, d = (_tuple(v, nd) for v in (p.kernel_size, p.stride or p.kernel_size, p.padding, p.dilation))
        with torch.no_grad():
            real = p(x.detach())
        out_shape = (real[0] if p.return_indices else real).shape[-nd:]
        batched = x.dim() == nd + 2
        xb = x if batched else x.unsqueeze(0)
        c = xb.shape[1]
        # ceil_mode keeps a last window that hangs over the right edge: pad enough for it
        extra = []
        for L, o, kk, ss, pp, dd in zip(xb.shape[2:], out_shape, k, s, pad, d):
            need = (o - 1) * ss + dd * (kk - 1) + 1 - (L + 2 * pp)
            extra.append(max(need, 0))
        pads = []
        for pp, e in reversed(list(zip(pad, extra))):
            pads += [pp, pp + e]
        xb = F.pad(xb, pads)
        weight = torch.ones((c, 1) + tuple(k), dtype=x.dtype, device=x.device)
        conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
        y = conv(xb, weight, stride=s, dilation=d, groups=c)
        y = y[(slice(None), slice(None)) + tuple(slice(0, o) for o in out_shape)]
        y = y if batched else y.squeeze(0)
        return (y, real[1]) if p.return_indices else y  # the real argmax indices, for a MaxUnpool downstream


class SpreadUnpool(nn.Module):
    """Each value added to every position of the window it was pooled from (a transposed
    convolution with an all-ones kernel): the positions a max unpooling may write it to."""

    def __init__(self, unpool: nn.Module):
        super().__init__()
        self.unpool = unpool  # the original: gives the windows and the output size

    def forward(self, x, indices):
        u = self.unpool
        nd = {nn.MaxUnpool1d: 1, nn.MaxUnpool2d: 2, nn.MaxUnpool3d: 3}[next(
            t for t in (nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d) if isinstance(u, t))]
        k, s, pad = (_tuple(v, nd) for v in (u.kernel_size, u.stride, u.padding))
        with torch.no_grad():
            out_shape = u(x.detach(), indices).shape[-nd:]
        batched = x.dim() == nd + 2
        xb = x if batched else x.unsqueeze(0)
        c = xb.shape[1]
        default = [(L - 1) * ss - 2 * pp + kk for L, kk, ss, pp in zip(xb.shape[2:], k, s, pad)]
        extra = [max(o - d, 0) for o, d in zip(out_shape, default)]  # output_size above the default: < stride
        weight = torch.ones((c, 1) + tuple(k), dtype=x.dtype, device=x.device)
        deconv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
        y = deconv(xb, weight, stride=s, padding=pad, output_padding=extra, groups=c)
        y = y[(slice(None), slice(None)) + tuple(slice(0, o) for o in out_shape)]
        return y if batched else y.squeeze(0)


class DimSum(nn.Module):
    """x + sum(x) along one dim: mixes the whole dim like softmax, with positive derivatives."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        dim = self.dim if self.dim is not None else F._get_softmax_dim("softmax", x.dim(), 3)
        return x + x.sum(dim, keepdim=True)


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class MeanMerge(nn.Module):
    """The mean of the inputs (for Add): a sum over a deep residual stack would grow as 2^blocks."""

    def forward(self, *xs):
        return sum(xs) / len(xs)


class GeometricMerge(nn.Module):
    """(x1 * x2 * ...)^(1/n) (for Mul): squeeze-excitation gates multiply features by their own
    averages, which squares magnitudes block after block; the geometric mean of positive values
    keeps them, and its partial derivatives are positive like the product's."""

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out.pow(1.0 / len(xs))


class MeanOver(nn.Module):
    """x + mean(x) over the dims a normalization reads: the same dependencies, positive derivatives
    (a real normalization subtracts the mean, which turns positive values into mixed signs)."""

    def __init__(self, trailing: int | None = None, from_dim: int | None = None):
        super().__init__()
        self.trailing, self.from_dim = trailing, from_dim

    def forward(self, x):
        if self.trailing is not None:
            dims = tuple(range(x.dim() - self.trailing, x.dim()))
        else:
            dims = tuple(range(self.from_dim, x.dim()))
        return x + x.mean(dims, keepdim=True) if dims else x


def _norm_replacement(m: nn.Module):
    if isinstance(m, nn.LayerNorm):
        return MeanOver(trailing=len(m.normalized_shape))
    if isinstance(m, nn.GroupNorm):
        return MeanOver(from_dim=1)            # channels and every spatial dim (per sample)
    if isinstance(m, nn.modules.instancenorm._InstanceNorm):
        n = {nn.InstanceNorm1d: 1, nn.InstanceNorm2d: 2, nn.InstanceNorm3d: 3}.get(type(m), 2)
        return nn.Identity() if m.track_running_stats else MeanOver(trailing=n)
    if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats:
        n = {nn.BatchNorm1d: 1, nn.BatchNorm2d: 2, nn.BatchNorm3d: 3}.get(type(m), 2)
        # batch statistics: every spatial position (the batch too, which the probe keeps apart)
        return _SpatialMean(n)
    if isinstance(m, nn.LocalResponseNorm):
        return nn.Identity()                   # a window over channels only: pointwise in space
    return None


class _SpatialMean(nn.Module):
    def __init__(self, ndim: int):
        super().__init__()
        self.ndim = ndim

    def forward(self, x):
        n = self.ndim if x.dim() > 2 else 0   # BatchNorm1d on (N, C) has no spatial dims
        dims = tuple(range(x.dim() - n, x.dim()))
        return x + x.mean(dims, keepdim=True) if dims else x


def _replacement(m: nn.Module):
    from . import modules
    if isinstance(m, modules.Add):
        return MeanMerge()
    if isinstance(m, modules.Mul):
        return GeometricMerge()
    if isinstance(m, _POINTWISE):
        return nn.Identity()
    norm = _norm_replacement(m)
    if norm is not None:
        return norm
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return SumPool(m)
    if isinstance(m, (nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)):
        return SpreadUnpool(m)
    if isinstance(m, nn.AdaptiveMaxPool1d):
        return nn.AdaptiveAvgPool1d(m.output_size)
    if isinstance(m, nn.AdaptiveMaxPool2d):
        return nn.AdaptiveAvgPool2d(m.output_size)
    if isinstance(m, nn.AdaptiveMaxPool3d):
        return nn.AdaptiveAvgPool3d(m.output_size)
    if isinstance(m, (nn.Softmax, nn.LogSoftmax, nn.Softmin)):
        return DimSum(m.dim)
    return None


def dependency_surrogate(module: nn.Module) -> nn.Module:
    """A copy of `module` in which a non-zero gradient means a dependency path (see module doc)."""
    sur = copy.deepcopy(module).eval()
    for name, m in list(sur.named_modules()):
        new = _replacement(m)
        if new is None or not name:
            continue
        parent_name, _, leaf = name.rpartition(".")
        parent = sur.get_submodule(parent_name) if parent_name else sur
        parent._modules[leaf] = new
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in sur.named_parameters():
            if p.dim() > 1:  # weighted averages (0.5..1.5)/fan-in: O(1) at any depth, channels distinct
                p.copy_((torch.rand(p.shape, generator=gen) + 0.5).to(p) / p[0].numel())
            else:            # biases 0 (they add no dependency); norm weights, scales, slopes 1
                p.fill_(0.0 if name.rsplit(".", 1)[-1] == "bias" else 1.0)
        for m in sur.modules():
            if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    return sur


def positive_input(shape, device="cpu", seed: int = 0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(tuple(shape), generator=gen, dtype=dtype) + 0.5).to(device)


def readout(t: torch.Tensor) -> torch.Tensor:
    """A sum of the selected outputs with random positive weights: a plain sum over a normalized
    dim is constant (LayerNorm's outputs sum to 0 over its channels), a generic one is not."""
    gen = torch.Generator().manual_seed(1)
    w = (torch.rand(t.shape, generator=gen) + 0.5).to(t)
    return (t * w).sum()


def finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


def influence_extent(grad: torch.Tensor, batch_index: int | None = None) -> list:
    """Per spatial axis of the input, (first, last) index with a non-zero gradient, or None."""
    g = grad if batch_index is None else grad[batch_index:batch_index + 1]
    nz = g != 0
    out = []
    for axis in range(2, g.dim()):
        hit = nz.movedim(axis, 0).reshape(g.shape[axis], -1).any(dim=1)
        idx = torch.nonzero(hit).reshape(-1)
        out.append((int(idx[0]), int(idx[-1])) if len(idx) else None)
    return out


def probe(module: nn.Module, input_shape, unit=None, device="cpu") -> list:
    """Receptive-field extent of one output unit of `module` (default: the centre unit).

    Returns per input spatial axis (first, last) input index that can influence that unit.
    """
    sur = dependency_surrogate(module).to(device)
    x = positive_input(input_shape, device).requires_grad_(True)
    y = sur(x)
    if unit is None:
        unit = tuple(0 if d == 0 else (s - 1) // 2 for d, s in enumerate(y.shape))
    readout(y[unit]).backward()
    return influence_extent(x.grad)
