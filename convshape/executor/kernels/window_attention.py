"""Swin Transformer's blocks as torchvision computes them (models/swin_transformer.py): shifted-window
attention V1 and V2, the 2x2 patch merging of each, and video Swin's 3-D window attention
(models/video/swin_transformer.py).

Window attention on (B, H, W, C): zero-pad H and W up to multiples of the window, roll the map by
-shift (no shift along an axis whose padded size fits in one window), cut it into windows of T
tokens, attend within each window with a relative position bias and, when shifted, -100 between
tokens of different regions of the rolled map, then undo the windows, the roll and the padding.
Each step runs in the input's dtype, rounding where torchvision's sequence of ops rounds (element-wise
functions and the softmax in float32 for half inputs, as torch's kernels compute them).
"""
from __future__ import annotations

import math

import torch

from . import reference
from .attention import affine, relative_position_index, softmax_last
from .common import opmath, pad, tuple_of
from .norm import _normalize

LAYER_NORM_EPS = 1e-5  # torchvision's default norm_layer, nn.LayerNorm(width)
SHIFT_MASK = -100.0    # torchvision masks the wrapped regions with -100, not -inf


def _norm(t):
    """The 2-norm over the last dim, accumulated in float32 for half inputs and rounded back (as torch's)."""
    return opmath(t).square().sum(-1, keepdim=True).sqrt().to(t.dtype)


def _exp(t):
    return torch.exp(opmath(t)).to(t.dtype)


def _sigmoid(t):
    return (1 / (1 + torch.exp(-opmath(t)))).to(t.dtype)


def _roll(x, shifts, dims):
    """torch.roll: output i reads input (i - shift) mod L along each dim."""
    for s, d in zip(shifts, dims):
        length = x.shape[d]
        x = x.index_select(d, (torch.arange(length, device=x.device) - s).remainder(length))
    return x


def _regions(length: int, window: int, shift: int) -> list[int]:
    """Per position of a rolled axis, the last of torchvision's three slices (0, -w), (-w, -s), (-s, None)
    holding it: its region id (the slices follow Python's rules, also for a shift of 0)."""
    ids = [0] * length
    for k, (lo, hi) in enumerate(((0, -window), (-window, -shift), (-shift, None))):
        for i in range(length)[lo:hi]:
            ids[i] = k
    return ids


def _partition(x, w):
    """(B, *padded, C) -> (B * nW, prod(w), C), windows in row-major order over n spatial axes."""
    B, *sizes, C = x.shape
    n = len(w)
    split = x.reshape(B, *[v for s, k in zip(sizes, w) for v in (s // k, k)], C)
    order = (0,) + tuple(1 + 2 * a for a in range(n)) + tuple(2 + 2 * a for a in range(n)) + (2 * n + 1,)
    return split.permute(order).reshape(-1, math.prod(w), C)


def _unpartition(out, B, sizes, w):
    """The inverse of _partition: (B * nW, prod(w), C) -> (B, *sizes, C)."""
    n, C = len(w), out.shape[-1]
    split = out.reshape(B, *[s // k for s, k in zip(sizes, w)], *w, C)
    order = (0,) + tuple(v for a in range(n) for v in (1 + a, 1 + n + a)) + (2 * n + 1,)
    return split.permute(order).reshape(B, *sizes, C)


def _shift_mask(pH, pW, w, shift, device, dtype):
    """(nW, T, T): 0 between tokens of one region of the rolled map, -100 across regions."""
    rows = torch.tensor(_regions(pH, w[0], shift[0]), device=device)
    cols = torch.tensor(_regions(pW, w[1], shift[1]), device=device)
    label = _partition((rows[:, None] * 3 + cols[None, :])[None, :, :, None], w)[..., 0]    # (nW, T)
    same = label[:, :, None] == label[:, None, :]
    return torch.zeros(same.shape, dtype=dtype, device=device).masked_fill(~same, SHIFT_MASK)


def _window_attention(layer, x, state, v2: bool):
    B, H, W, C = x.shape
    w = tuple_of(layer.window_size, 2)
    shift = list(tuple_of(layer.shift_size, 2))
    heads = layer.num_heads
    x = pad(x, [(0, -H % w[0]), (0, -W % w[1]), (0, 0)])
    pH, pW = x.shape[1], x.shape[2]
    for axis, padded in enumerate((pH, pW)):
        if w[axis] >= padded:
            shift[axis] = 0
    shifted = sum(shift) > 0
    if shifted:
        x = _roll(x, (-shift[0], -shift[1]), (1, 2))
    tokens = _partition(x, w)                                             # (B nW, T, C)
    n, T = tokens.shape[:2]
    qkv_bias = state.get("qkv.bias")
    if v2 and qkv_bias is not None:   # V2 has no key bias: torchvision zeroes that third of qkv.bias
        qkv_bias = torch.cat([qkv_bias[:C], torch.zeros_like(qkv_bias[C:2 * C]), qkv_bias[2 * C:]])
    qkv = affine(tokens, state["qkv.weight"], qkv_bias).reshape(n, T, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv                                                       # (B nW, heads, T, C/heads)
    index = relative_position_index(w[0], w[1], x.device)
    if v2:
        # cosine attention with a per-head temperature exp(min(logit_scale, log 100))
        # F.normalize's eps 1e-12 is taken in x's dtype: 0 in float16, where a zero key (a padded
        # token's: V2 has no key bias) gives torch 0/0 = NaN over its window, so it does here too
        eps = float(torch.tensor(1e-12, dtype=x.dtype))
        unit = [t / _norm(t).clamp(min=eps) for t in (q, k)]
        scores = unit[0] @ unit[1].transpose(-2, -1) * _exp(state["logit_scale"].clamp(max=math.log(100.0)))
        # continuous position bias: Linear(2, 512), ReLU, Linear(512, heads) on the coordinate table
        hidden = affine(state["relative_coords_table"], state["cpb_mlp.0.weight"], state["cpb_mlp.0.bias"]).clamp(min=0)
        table = affine(hidden, state["cpb_mlp.2.weight"]).reshape(-1, heads)
        bias = 16 * _sigmoid(table[index].permute(2, 0, 1))
    else:
        scores = (q * (C // heads) ** -0.5) @ k.transpose(-2, -1)
        bias = state["relative_position_bias_table"][index].permute(2, 0, 1)   # (heads, T, T)
    scores = scores + bias
    if shifted:
        mask = _shift_mask(pH, pW, w, shift, x.device, scores.dtype)   # (nW, T, T)
        scores = (scores.reshape(B, -1, heads, T, T) + mask[None, :, None]).reshape(n, heads, T, T)
    out = (softmax_last(opmath(scores)).to(x.dtype) @ v).transpose(1, 2).reshape(n, T, C)
    out = affine(out, state["proj.weight"], state.get("proj.bias"))
    out = _unpartition(out, B, (pH, pW), w)
    if shifted:
        out = _roll(out, shift, (1, 2))
    return out[:, :H, :W].contiguous()


@reference("ShiftedWindowAttention")
def shifted_window_attention(layer, xs, state):
    """V1: scaled dot products plus a learned (2w0-1)(2w1-1) x heads relative-position-bias table."""
    return _window_attention(layer, xs[0], state, v2=False)


@reference("ShiftedWindowAttentionV2")
def shifted_window_attention_v2(layer, xs, state):
    """V2: cosine attention, a learned temperature per head, and 16 sigmoid of an MLP's position bias."""
    return _window_attention(layer, xs[0], state, v2=True)


def _merge_phases(x):
    """(..., H, W, C) -> (..., ceil(H/2), ceil(W/2), 4C): zero-pad H and W to even, then the 2x2
    phases (0, 0), (1, 0), (0, 1), (1, 1) side by side in channels (torchvision's order)."""
    x = pad(x, [(0, x.shape[-3] % 2), (0, x.shape[-2] % 2), (0, 0)])
    return torch.cat([x[..., i::2, j::2, :] for i, j in ((0, 0), (1, 0), (0, 1), (1, 1))], dim=-1)


def _layer_norm(x, state):
    y = _normalize(opmath(x), (-1,), LAYER_NORM_EPS) * opmath(state["norm.weight"]) + opmath(state["norm.bias"])
    return y.to(x.dtype)


@reference("PatchMerging")
def patch_merging(layer, xs, state):
    """The four phases, LayerNorm(4C), then Linear(4C, 2C) without bias."""
    return affine(_layer_norm(_merge_phases(xs[0]), state), state["reduction.weight"])


@reference("PatchMergingV2")
def patch_merging_v2(layer, xs, state):
    """V2: the reduction first, then LayerNorm(2C)."""
    return _layer_norm(affine(_merge_phases(xs[0]), state["reduction.weight"]), state)


def _relative_position_index_3d(w, device):
    """(T, T) indices into a (2w0-1)(2w1-1)(2w2-1) table for the tokens of a w0 x w1 x w2 window:
    (di + w0 - 1)(2w1-1)(2w2-1) + (hi + w1 - 1)(2w2-1) + (wi + w2 - 1) of the offsets (torchvision's)."""
    coords = torch.cartesian_prod(*[torch.arange(k, device=device) for k in w]).reshape(-1, 3)
    rel = coords[:, None, :] - coords[None, :, :] + torch.tensor([k - 1 for k in w], device=device)
    return rel[..., 0] * (2 * w[1] - 1) * (2 * w[2] - 1) + rel[..., 1] * (2 * w[2] - 1) + rel[..., 2]


@reference("ShiftedWindowAttention3d")
def shifted_window_attention_3d(layer, xs, state):
    """torchvision's video Swin (shifted_window_attention_3d): an axis no longer than the window clips
    the window to it and does not shift; pad T, H, W to multiples; roll by -shift; windows; V1
    attention with the bias of the full window's index cut to the first prod(window) tokens (as
    torchvision reads it, also when clipped); -100 across the 27 regions; undo; crop."""
    x = xs[0]
    B, T, H, W, C = x.shape
    heads = layer.num_heads
    w, shift = [], []
    for size, k, s in zip((T, H, W), layer.window_size, layer.shift_size):
        w.append(size if size <= k else k)
        shift.append(0 if size <= k else s)
    x = pad(x, [(0, -T % w[0]), (0, -H % w[1]), (0, -W % w[2]), (0, 0)])
    sizes = tuple(x.shape[1:4])
    shifted = sum(shift) > 0
    if shifted:
        x = _roll(x, [-s for s in shift], (1, 2, 3))
    tokens = _partition(x, w)                                           # (B nW, vol, C)
    n, vol = tokens.shape[:2]
    qkv = affine(tokens, state["qkv.weight"], state.get("qkv.bias")).reshape(n, vol, 3, heads, C // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)                                 # (B nW, heads, vol, C/heads)
    scores = (q * (C // heads) ** -0.5) @ k.transpose(-2, -1)
    index = _relative_position_index_3d(layer.window_size, x.device)[:vol, :vol]
    scores = scores + state["relative_position_bias_table"][index].permute(2, 0, 1)
    if shifted:
        labels = [torch.tensor(_regions(size, k, s), device=x.device) for size, k, s in zip(sizes, w, shift)]
        label = labels[0][:, None, None] * 9 + labels[1][None, :, None] * 3 + labels[2][None, None, :]
        label = _partition(label[None, ..., None], w)[..., 0]            # (nW, vol)
        mask = torch.zeros(label.shape + (vol,), dtype=scores.dtype, device=x.device)
        mask = mask.masked_fill(label[:, :, None] != label[:, None, :], SHIFT_MASK)
        scores = (scores.reshape(B, -1, heads, vol, vol) + mask[None, :, None]).reshape(n, heads, vol, vol)
    out = (softmax_last(opmath(scores)).to(x.dtype) @ v).transpose(1, 2).reshape(n, vol, C)
    out = _unpartition(affine(out, state["proj.weight"], state.get("proj.bias")), B, sizes, w)
    if shifted:
        out = _roll(out, shift, (1, 2, 3))
    return out[:, :T, :H, :W].contiguous()
