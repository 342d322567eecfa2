"""Upsampling, one spatial axis at a time (every mode is separable): nearest, nearest-exact,
(bi/tri)linear and bicubic with torch's source-coordinate rules (align_corners), and area.

Source coordinates follow ATen's area_pixel_compute_source_index: align_corners maps the corner
pixels onto each other, scale (in - 1) / (out - 1); otherwise pixel centres, src = (dst + 0.5) *
scale - 0.5 with scale = 1 / scale_factor when one is given (and not recomputed), else in / out.
Nearest computes in float32 as torch does, so the rare rounding of floor(dst * scale) agrees.
"""
from __future__ import annotations

import torch

from . import reference
from .common import opmath, tuple_of
from .pool import adaptive

CUBIC_A = -0.75   # Keys' cubic convolution constant, as torch and OpenCV


def output_sizes(layer, spatial):
    n = len(spatial)
    if layer.size is not None:
        return tuple_of(layer.size, n)
    return tuple(int(length * float(f)) for length, f in zip(spatial, tuple_of(layer.scale_factor, n)))


def _scale(layer, axis, n, length, size, align_corners):
    if align_corners:
        return (length - 1) / (size - 1) if size > 1 else 0.0
    if layer.scale_factor is not None and not getattr(layer, "recompute_scale_factor", None):
        return 1.0 / float(tuple_of(layer.scale_factor, n)[axis])
    return length / size


def _along(t, dim, rank):
    shape = [1] * rank
    shape[dim] = -1
    return t.view(shape)


def _resample_axis(x, dim, size, scale, mode, align_corners):
    length = x.shape[dim]
    dst = torch.arange(size, device=x.device)
    if mode in ("nearest", "nearest-exact"):
        offset = 0.5 if mode == "nearest-exact" else 0.0
        src = torch.floor((dst.float() + offset) * torch.tensor(scale, dtype=torch.float32, device=x.device)).long()
        return x.index_select(dim, src.clamp(max=length - 1))
    coord = dst.to(x.dtype)
    src = coord * scale if align_corners else (coord + 0.5) * scale - 0.5
    if mode == "linear":
        src = src.clamp(min=0)
        left = src.floor().long().clamp(max=length - 1)
        right = (left + 1).clamp(max=length - 1)
        w = src - left.to(x.dtype)
        return (x.index_select(dim, left) * _along(1 - w, dim, x.dim())
                + x.index_select(dim, right) * _along(w, dim, x.dim()))
    # cubic: four taps around floor(src), clamped to the edge
    base = src.floor()
    t = src - base
    a = CUBIC_A
    near = lambda u: ((a + 2) * u - (a + 3)) * u * u + 1          # |u| <= 1
    far = lambda u: ((a * u - 5 * a) * u + 8 * a) * u - 4 * a      # 1 < |u| < 2
    weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
    out = 0
    for offset, w in zip((-1, 0, 1, 2), weights):
        idx = (base.long() + offset).clamp(0, length - 1)
        out = out + x.index_select(dim, idx) * _along(w, dim, x.dim())
    return out


FAMILY = {"nearest": "nearest", "nearest-exact": "nearest-exact", "linear": "linear", "bilinear": "linear",
          "trilinear": "linear", "bicubic": "cubic"}


@reference("Upsample")
def upsample(layer, xs, state):
    x = xs[0]
    spatial = tuple(x.shape[2:])
    n = len(spatial)
    sizes = output_sizes(layer, spatial)
    if layer.mode == "area":
        return adaptive(x, sizes, "avg")
    mode = FAMILY[layer.mode]
    align = bool(layer.align_corners) and mode in ("linear", "cubic")
    out = x if mode.startswith("nearest") else opmath(x)
    for axis, (length, size) in enumerate(zip(spatial, sizes)):
        if mode == "linear" and length == size and x.device.type == "cpu":
            # torch's CPU kernel copies an axis whose size does not change even when scale_factor
            # is not 1 (ATen cpu compute_source_index_and_lambda); its CUDA kernel interpolates it
            continue
        scale = _scale(layer, axis, n, length, size, align)
        out = _resample_axis(out, 2 + axis, size, scale, mode, align)
    return out.to(x.dtype)
