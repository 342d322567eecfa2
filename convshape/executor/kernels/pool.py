"""Pooling as sliding windows (unfold views) plus a reduction; adaptive pooling from its window formula."""
from __future__ import annotations

import itertools

import torch

from . import ranks, reference
from ...dims import prod
from .common import batched, opmath, pad, tuple_of, window_count, windows


def rank_of(layer) -> int:
    """Spatial rank of a ranked kind (Conv2d -> 2)."""
    return getattr(layer, "ndim", None) or int(layer.kind[-2])


def _geometry(layer, x, n):
    """kernel, stride, dilation and the (before, after) pads that give torch's window count, ceil_mode included."""
    kernel = tuple_of(layer.kernel_size, n)
    stride = tuple_of(layer.stride if layer.stride is not None else layer.kernel_size, n)
    padding = tuple_of(getattr(layer, "padding", 0), n)
    dilation = tuple_of(getattr(layer, "dilation", 1), n)
    pads = []
    for length, k, s, p, d in zip(x.shape[-n:], kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        count = window_count(length, span, s, p, layer.ceil_mode)
        # a ceil-mode window that overhangs the right padding reads positions that count for nothing
        overhang = max(0, (count - 1) * s + span - (length + 2 * p))
        pads.append((p, p + overhang))
    return kernel, stride, dilation, pads


def _window_counts(x, n, stride, dilation, kernel, pads, lo, hi):
    """Per output position, how many window taps fall in [lo(axis), hi(axis)) of the padded axis;
    separable, so the product of one 1-D count per axis."""
    total = None
    for axis, (k, s, d, (before, after)) in enumerate(zip(kernel, stride, dilation, pads)):
        length = x.shape[x.dim() - n + axis]
        mask = torch.zeros(length + before + after, device=x.device, dtype=opmath(x).dtype)
        mask[lo(before, length):hi(before, length)] = 1
        counts = mask.unfold(0, d * (k - 1) + 1, s)[:, ::d].sum(-1)
        shape = [1] * n
        shape[axis] = -1
        counts = counts.view(shape)
        total = counts if total is None else total * counts
    return total


@reference(*ranks("MaxPool"))
def max_pool(layer, xs, state):
    """Window max; with return_indices also (values, int64 indices), as torch returns them."""
    n = rank_of(layer)
    x, unbatched = batched(xs[0], n)
    kernel, stride, dilation, pads = _geometry(layer, x, n)
    taps = windows(pad(x, pads, value=float("-inf")), 2, kernel, stride, dilation)
    if not getattr(layer, "return_indices", False):
        out = taps.amax(dim=tuple(range(-n, 0)))
        return out.squeeze(0) if unbatched else out
    out, indices = _scan_windows(x, taps, n, kernel, stride, dilation, pads)
    return (out.squeeze(0), indices.squeeze(0)) if unbatched else (out, indices)


def _scan_windows(x, taps, n, kernel, stride, dilation, pads):
    """(max, flat index into each input plane of the tap holding it), found as torch's kernels find
    them: scan the window in order, take a tap when `val > max || isnan(val)` (the first maximum,
    the last NaN), and start from the first tap inside the input (kept when every inside value is
    -inf). Padding taps hold -inf, so they are never taken."""
    spatial = x.shape[-n:]
    plane = torch.arange(prod(spatial), device=x.device).view(1, 1, *spatial)
    where = windows(pad(plane, pads, value=-1), 2, kernel, stride, dilation)   # -1: a padding tap
    best = torch.full(taps.shape[:-n], float("-inf"), dtype=opmath(x).dtype, device=x.device)
    index = torch.full(taps.shape[:-n], -1, dtype=torch.int64, device=x.device)
    first = torch.full(where.shape[:-n], -1, dtype=torch.int64, device=x.device)
    for tap in itertools.product(*(range(k) for k in kernel)):
        val, at = opmath(taps[(Ellipsis, *tap)]), where[(Ellipsis, *tap)]
        first = torch.where((first < 0) & (at >= 0), at, first)
        take = (val > best) | torch.isnan(val)
        best = torch.where(take, val, best)
        index = torch.where(take, at, index)
    return best.to(x.dtype), torch.where(index < 0, first, index)


@reference(*ranks("AvgPool"))
def avg_pool(layer, xs, state):
    """Window sum / divisor: divisor_override, else the taps inside the input and its padding
    (count_include_pad) or inside the input only. Ceil-mode overhang never counts."""
    n = rank_of(layer)
    x, unbatched = batched(xs[0], n)
    kernel, stride, dilation, pads = _geometry(layer, x, n)
    sums = windows(pad(opmath(x), pads), 2, kernel, stride, dilation).sum(dim=tuple(range(-n, 0)))
    override = getattr(layer, "divisor_override", None)
    if override:
        divisor = float(override)
    elif layer.count_include_pad:
        divisor = _window_counts(x, n, stride, dilation, kernel, pads, lambda p, L: 0, lambda p, L: L + 2 * p)
    else:
        divisor = _window_counts(x, n, stride, dilation, kernel, pads, lambda p, L: p, lambda p, L: p + L)
    out = (sums / divisor).to(x.dtype)
    return out.squeeze(0) if unbatched else out


@reference(*ranks("LPPool"))
def lp_pool(layer, xs, state):
    """(sum over the window of x^p)^(1/p). torch computes it as avg_pool(x^p) * window size, so a
    ceil-mode partial window is scaled by window size / taps inside the input: kept here."""
    n = rank_of(layer)
    x, unbatched = batched(xs[0], n)
    kernel, stride, dilation, pads = _geometry(layer, x, n)
    p = float(layer.norm_type)
    sums = windows(pad(opmath(x).pow(p), pads), 2, kernel, stride, dilation).sum(dim=tuple(range(-n, 0)))
    inside = _window_counts(x, n, stride, dilation, kernel, pads, lambda b, L: 0, lambda b, L: L)
    full = 1
    for k in kernel:
        full *= k
    out = (sums * (full / inside)).pow(1.0 / p).to(x.dtype)
    return out.squeeze(0) if unbatched else out


def _adaptive_axis(x, dim: int, out_size: int, reduce: str):
    """Output i reads [floor(i L / O), ceil((i + 1) L / O)) along `dim` (torch's adaptive windows)."""
    length = x.shape[dim]
    if out_size == 0:   # torch allows an empty output
        return x.narrow(dim, 0, 0)
    i = torch.arange(out_size, device=x.device)
    starts = (i * length) // out_size
    ends = -((-(i + 1) * length) // out_size)
    width = int((ends - starts).max())
    taps = torch.arange(width, device=x.device)
    index = (starts[:, None] + taps[None, :]).clamp(max=length - 1)
    valid = taps[None, :] < (ends - starts)[:, None]                    # (O, width)
    gathered = x.index_select(dim, index.flatten()).unflatten(dim, (out_size, width))
    shape = [1] * gathered.dim()
    shape[dim], shape[dim + 1] = out_size, width
    valid = valid.view(shape)
    if reduce == "max":
        return gathered.masked_fill(~valid, float("-inf")).amax(dim + 1)
    counts = (ends - starts).view(shape[:dim + 1] + shape[dim + 2:])
    return (gathered * valid).sum(dim + 1) / counts


def adaptive(x, sizes, reduce: str):
    """Adaptive pooling over the last len(sizes) dims; rectangular windows, so one axis at a time."""
    n = len(sizes)
    out = opmath(x) if reduce == "avg" else x
    for axis, size in enumerate(sizes):
        dim = x.dim() - n + axis
        out = _adaptive_axis(out, dim, x.shape[dim] if size is None else size, reduce)
    return out.to(x.dtype)


@reference(*ranks("AdaptiveAvgPool"))
def adaptive_avg_pool(layer, xs, state):
    return adaptive(xs[0], tuple_of(layer.output_size, rank_of(layer)), "avg")


@reference(*ranks("AdaptiveMaxPool"))
def adaptive_max_pool(layer, xs, state):
    return adaptive(xs[0], tuple_of(layer.output_size, rank_of(layer)), "max")


@reference(*ranks("MaxUnpool"))
def max_unpool(layer, xs, state):
    """Zeros of the output size, each value written at its flat index into its plane. torch's CPU
    kernel writes the values of a plane in order, so where two indices agree the later value stays:
    kept here with a deterministic scatter of each target's last writer (torch's CUDA kernel has no
    order there)."""
    n = rank_of(layer)
    x, unbatched = batched(xs[0], n)
    indices = xs[1].unsqueeze(0) if unbatched else xs[1]
    sizes = _unpool_sizes(layer, x.shape[-n:], n)
    plane = prod(sizes)
    values, where = x.flatten(2), indices.flatten(2)
    if where.numel() and bool(((where < 0) | (where >= plane)).any()):   # torch refuses them too
        bad = where[(where < 0) | (where >= plane)][0]
        raise ValueError(f"index {int(bad)} is outside an output plane of {plane} elements {list(sizes)}")
    order = torch.arange(where.shape[-1], device=x.device).expand_as(where)
    writer = torch.full((*where.shape[:2], plane), -1, dtype=torch.int64, device=x.device)
    writer = writer.scatter_reduce(-1, where, order, "amax")
    written = writer >= 0
    if values.shape[-1]:
        out = torch.where(written, values.gather(-1, writer.clamp(min=0)), values.new_zeros(()))
    else:   # nothing to write: all zeros
        out = values.new_zeros(writer.shape)
    out = out.view(*x.shape[:2], *sizes)
    return out.squeeze(0) if unbatched else out


def _unpool_sizes(layer, lengths, n):
    """torch's _unpool_output_size: (L - 1) * stride - 2 * padding + kernel_size per axis, or the
    last n entries of output_size, which must lie strictly within a stride of that."""
    kernel = tuple_of(layer.kernel_size, n)
    stride = tuple_of(layer.stride if layer.stride is not None else layer.kernel_size, n)
    padding = tuple_of(layer.padding, n)
    default = [(L - 1) * s - 2 * p + k for L, k, s, p in zip(lengths, kernel, stride, padding)]
    if layer.output_size is None:
        return tuple(default)
    sizes = tuple(layer.output_size)[-n:]
    for o, d, s in zip(sizes, default, stride):
        if not d - s < o < d + s:
            raise ValueError(f"invalid output_size {list(sizes)}: {o} is not strictly between {d - s} and {d + s}")
    return sizes
