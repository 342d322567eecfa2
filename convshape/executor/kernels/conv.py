"""Convolution as im2col + GEMM, transposed convolution as zero insertion + the same convolution.

im2col (Pete Warden's "why GEMM is at the heart of deep learning", as in the lecture notes of
../shared/seeds/001): lay every receptive-field patch out as a row, then one matrix product with
the flattened filters gives every output position at once. Patches are taken channels-last, in
(kernel position, channel) order, so the copy reads contiguous channel runs and a 1x1 stride-1
convolution of a channels-last tensor needs no copy at all. A convolution with stride 1 on its
first spatial axis copies less: one GEMM per kernel row over shifted slices of a narrower im2col.
"""
from __future__ import annotations

from math import prod

import torch

from . import ranks, reference
from .common import batched, opmath, pad, tuple_of, windows

PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def convolve(x, weight, bias, stride, pads, dilation, groups: int, mode: str = "constant"):
    """Cross-correlation of x (N, C, *S) or (C, *S) with weight (Cout, C/groups, *K).

    pads: (before, after) per spatial axis, applied with `mode` before the windows are taken.
    """
    n = weight.dim() - 2
    x, unbatched = batched(x, n)
    x = pad(x, pads, mode)
    kernel = tuple(weight.shape[2:])
    first_out = x.shape[2] - dilation[0] * (kernel[0] - 1)
    if groups == 1 and stride[0] == 1 and kernel[0] > 1 and first_out >= ROW_SHIFT_MIN:
        out = _row_shifted(x, weight, stride, dilation)
    else:
        out = _im2col(x, weight, stride, dilation, groups)
    if bias is not None:
        out = out + bias
    out = out.movedim(-1, 1)
    return out.squeeze(0) if unbatched else out


def _im2col(x, weight, stride, dilation, groups):
    """Every patch a row (N*P, K*C), one GEMM with the filters; channels-last output (N, *O, Cout)."""
    n = weight.dim() - 2
    batch, channels = x.shape[:2]
    out_channels, kernel = weight.shape[0], tuple(weight.shape[2:])
    in_group, out_group = channels // groups, out_channels // groups
    patches = windows(x.movedim(1, -1), 1, kernel, stride, dilation)   # (N, *O, C, *K), a view
    out_sizes = tuple(patches.shape[1:1 + n])
    rows = batch * prod(out_sizes)
    taps = prod(kernel) * in_group
    if groups == 1:
        cols = patches.movedim(1 + n, -1).reshape(rows, taps)          # (N*P, K*C): the im2col copy
        w = weight.movedim(1, -1).reshape(out_channels, taps)          # filters in (K, C) order too
        out = cols @ w.t()
    else:
        grouped = patches.unflatten(1 + n, (groups, in_group))         # (N, *O, G, C/G, *K)
        order = (1 + n,) + (0,) + tuple(range(1, 1 + n)) + tuple(range(3 + n, 3 + 2 * n)) + (2 + n,)
        cols = grouped.permute(order).reshape(groups, rows, taps)      # (G, N*P, K*C/G)
        w = weight.view(groups, out_group, in_group, *kernel).movedim(2, -1).reshape(groups, out_group, taps)
        out = (cols @ w.transpose(1, 2)).permute(1, 0, 2).reshape(rows, out_channels)
    return out.view(batch, *out_sizes, out_channels)


# the row-shifted form computes d(k-1) wasted rows per first-axis position: worth it from here on
ROW_SHIFT_MIN = 14


def _row_shifted(x, weight, stride, dilation):
    """im2col over every spatial axis but the first, then one GEMM per kernel row, accumulated.

    With stride 1 on the first axis, the patches of kernel row r are the patches of row 0 moved
    r*d rows down, so the flattened (N * S1 * P', K'*C) matrix serves every kernel row as a
    contiguous slice: the copy is k' = prod(K[1:]) times the input instead of prod(K) times.
    Output rows that straddle two images (the last d(k-1) positions of each) are computed and
    dropped. Channels-last output (N, *O, Cout).
    """
    n = weight.dim() - 2
    batch, channels, first = x.shape[:3]
    out_channels, kernel = weight.shape[0], tuple(weight.shape[2:])
    patches = windows(x.movedim(1, -1), 2, kernel[1:], stride[1:], dilation[1:])   # (N, S1, *O', C, *K')
    rest = tuple(patches.shape[2:1 + n])
    per_row = prod(rest)                                   # output positions per first-axis position
    taps = prod(kernel[1:]) * channels
    cols = patches.movedim(1 + n, -1).reshape(batch * first * per_row, taps)
    w = weight.movedim(1, -1).reshape(out_channels, kernel[0], taps).permute(1, 2, 0)   # (K1, K'*C, Cout)
    shift = dilation[0] * per_row
    rows = batch * first * per_row - (kernel[0] - 1) * shift
    out = cols.new_empty(batch * first * per_row, out_channels)
    torch.matmul(cols[:rows], w[0], out=out[:rows])
    for r in range(1, kernel[0]):
        out[:rows].addmm_(cols[r * shift:r * shift + rows], w[r])
    first_out = first - dilation[0] * (kernel[0] - 1)
    return out.view(batch, first, *rest, out_channels)[:, :first_out]


def conv_pads(layer, kernel, dilation):
    """(before, after) per axis from the padding argument; 'same' puts the odd extra pad after (torch)."""
    n = len(kernel)
    if layer.padding == "valid":
        return [(0, 0)] * n
    if layer.padding == "same":
        written = layer.dilation if isinstance(layer.dilation, tuple) and layer.padding_mode != "zeros" else dilation
        # nn.Conv computes F.pad's amounts with zip(dilation, kernel_size): a 1-entry dilation pads axis 0 only
        totals = [d * (k - 1) for k, d in zip(kernel, written)] + [0] * (n - len(written))
        return [(t // 2, t - t // 2) for t in totals]
    if layer.padding_mode != "zeros" and isinstance(layer.padding, tuple) and len(layer.padding) == 1 and n > 1:
        return [(0, 0)] * (n - 1) + [(layer.padding[0],) * 2]  # F.pad(x, padding * 2): the last axis only
    return [(p, p) for p in tuple_of(layer.padding, n)]


@reference(*ranks("Conv"), *ranks("FixedConv"))
def conv(layer, xs, state):
    """Also the fixed-filter convolutions (blur pools), whose weight and bias are buffers of the same names."""
    weight = state["weight"]
    n = weight.dim() - 2
    kernel, dilation = tuple(weight.shape[2:]), tuple_of(layer.dilation, n)
    return convolve(xs[0], weight, state.get("bias"), tuple_of(layer.stride, n),
                    conv_pads(layer, kernel, dilation), dilation, layer.groups, PADDING_MODES[layer.padding_mode])


@reference(*ranks("ConvTranspose"))
def conv_transpose(layer, xs, state):
    """y[o] = sum over i, j with o = i*s - p + j*d of x[i] w[j]: insert s-1 zeros between inputs, pad
    by d(k-1) - p (crop where negative) plus output_padding after, and correlate with the flipped,
    channel-transposed filters."""
    x, weight = xs[0], state["weight"]                     # weight: (C_in, C_out/groups, *K)
    n = weight.dim() - 2
    x, unbatched = batched(x, n)
    stride, dilation = tuple_of(layer.stride, n), tuple_of(layer.dilation, n)
    padding, extra = tuple_of(layer.padding, n), tuple_of(layer.output_padding, n)
    kernel = tuple(weight.shape[2:])
    spread = x.new_zeros(*x.shape[:2], *[(size - 1) * s + 1 for size, s in zip(x.shape[2:], stride)])
    spread[(Ellipsis,) + tuple(slice(None, None, s) for s in stride)] = x
    pads = [(d * (k - 1) - p, d * (k - 1) - p + op) for k, d, p, op in zip(kernel, dilation, padding, extra)]
    g = layer.groups
    in_group, out_group = weight.shape[0] // g, weight.shape[1]
    flipped = (weight.view(g, in_group, out_group, *kernel).transpose(1, 2)
               .reshape(g * out_group, in_group, *kernel).flip(tuple(range(2, 2 + n))))
    out = convolve(spread, flipped, state.get("bias"), (1,) * n, pads, dilation, g)
    return out.squeeze(0) if unbatched else out


@reference(*ranks("StdConv"))
def std_conv(layer, xs, state):
    """timm's StdConv / ScaledStdConv: each output channel's filter standardized as F.batch_norm in
    training mode does (biased variance, eps inside the root), times `gain` / sqrt(fan_in), then the convolution."""
    weight = state["weight"]
    w = opmath(weight).flatten(1)
    mean = w.mean(dim=1, keepdim=True)
    var = (w - mean).square().mean(dim=1, keepdim=True)
    w = (w - mean) / (var + layer.eps).sqrt()
    if state.get("gain") is not None:   # timm's gain * fan_in ** -0.5, as the kind's torch module applies it
        w = w * (opmath(state["gain"]).reshape(-1, 1) * weight[0].numel() ** -0.5)
    return conv(layer, xs, {**state, "weight": w.to(weight.dtype).view(weight.shape)})
