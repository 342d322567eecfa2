"""Helpers the reference kernels share: explicit padding, sliding windows as views, and "opmath".

Everything here is built from indexing, `Tensor.unfold` (a strided view) and copies.
"""
from __future__ import annotations

import torch

HALF = (torch.float16, torch.bfloat16)


def opmath(x: torch.Tensor) -> torch.Tensor:
    """Half-precision inputs are computed in float32 (as torch's kernels do) and cast back by the caller."""
    return x.float() if x.dtype in HALF else x


def tuple_of(value, n: int) -> tuple:
    """An int or a tuple as an n-tuple (a 1-tuple repeats), as torch's _ntuple."""
    if isinstance(value, (tuple, list)):
        return tuple(value) * n if len(value) == 1 else tuple(value)
    return (value,) * n


def pad(x: torch.Tensor, pads, mode: str = "constant", value: float = 0.0) -> torch.Tensor:
    """Pad the last len(pads) dims; pads[i] = (before, after) for dim -len(pads)+i.

    Output position o of a padded dim reads input index o - before: inside [0, L) that is the
    input, outside it is `value` (constant), the mirror image without repeating the edge (reflect:
    |i|, then 2(L-1) - i), the edge (replicate) or the wrapped index (circular). Negative amounts
    crop; the mirror stays the one of the uncropped input, while circular wraps around what the
    crop leaves (both as torch does).
    """
    nd = len(pads)
    for i, (before, after) in enumerate(pads):
        dim = x.dim() - nd + i
        length = x.shape[dim]
        if before == 0 and after == 0:
            continue
        if mode == "constant" and before >= 0 and after >= 0:   # the common case: one filled copy
            shape = list(x.shape)
            shape[dim] = length + before + after
            out = x.new_full(shape, value)
            out.narrow(dim, before, length).copy_(x)
            x = out
            continue
        if mode == "circular" and (before < 0 or after < 0):
            # torch crops first and wraps around what is left (ATen _pad_circular)
            cut_b, cut_a = max(-before, 0), max(-after, 0)
            x = x.narrow(dim, cut_b, length - cut_b - cut_a)
            before, after, length = max(before, 0), max(after, 0), length - cut_b - cut_a
        idx = torch.arange(-before, length + after, device=x.device)
        if mode == "constant":
            outside = (idx < 0) | (idx >= length)
            view = [1] * x.dim()
            view[dim] = -1
            x = x.index_select(dim, idx.clamp(0, length - 1)).masked_fill(outside.view(view), value)
            continue
        if mode == "reflect":
            idx = idx.abs()
            idx = torch.where(idx >= length, 2 * (length - 1) - idx, idx)
        elif mode == "replicate":
            idx = idx.clamp(0, length - 1)
        elif mode == "circular":
            idx = idx.remainder(length)
        else:
            raise ValueError(f"unknown padding mode {mode!r}")
        x = x.index_select(dim, idx)
    return x


def windows(x: torch.Tensor, first_dim: int, kernel, stride, dilation) -> torch.Tensor:
    """Sliding windows over dims first_dim.. as a view: those dims become output positions and
    len(kernel) window dims are appended at the end (dilated taps only)."""
    n = len(kernel)
    for i, (k, s, d) in enumerate(zip(kernel, stride, dilation)):
        x = x.unfold(first_dim + i, d * (k - 1) + 1, s)
    if any(d != 1 for d in dilation):
        index = (Ellipsis,) + tuple(slice(None, None, d) for d in dilation)
        x = x[index]
    return x


def window_count(length: int, span: int, stride: int, pad_before: int, ceil_mode: bool) -> int:
    """How many windows fit: floor mode keeps windows inside the padded input; ceil mode also keeps
    a last partial window when it starts inside the input or the left padding (torch's rule)."""
    room = length + 2 * pad_before - span
    if not ceil_mode:
        return room // stride + 1
    count = -(-room // stride) + 1
    if (count - 1) * stride >= length + pad_before:
        count -= 1
    return count


def batched(x: torch.Tensor, spatial: int):
    """Add the batch dim to an unbatched (C, *spatial) input; returns (x, was_unbatched)."""
    if x.dim() == spatial + 1:
        return x.unsqueeze(0), True
    return x, False
