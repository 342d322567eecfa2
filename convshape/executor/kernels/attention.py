"""Products of two activations and attention: matmul with torch's broadcasting and 1-D rules,
scaled dot-product attention, nn.MultiheadAttention and MaxViT's relative-position attention.

Attention is softmax(q k^T * scale + bias) v, with the softmax from its formula, computed in
float32 for half inputs (as torch's fused attention keeps its scores); projections are rounded to
the input's dtype once, as torch's Linear layers are.
"""
from __future__ import annotations

import math

import torch

from . import reference
from .arith import gathered
from .common import opmath


def affine(x, weight, bias=None):
    """x W^T + b over the last dim (nn.Linear's map), rounded once to x's dtype: torch's half-precision
    addmm accumulates in float32 and adds the bias before rounding."""
    out = opmath(x) @ opmath(weight).t()
    return (out if bias is None else out + opmath(bias)).to(x.dtype)


def softmax_last(x):
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def attend(q, k, v, scale: float, bias=None):
    """softmax(q k^T * scale + bias) v over the last two dims; bias broadcasts against the scores."""
    scores = (opmath(q) @ opmath(k).transpose(-2, -1)) * scale
    if bias is not None:
        scores = scores + bias
    return (softmax_last(scores) @ opmath(v)).to(q.dtype)


def relative_position_index(h: int, w: int, device=None) -> torch.Tensor:
    """(hw, hw) indices into a (2h-1)(2w-1) table: tokens i, j of an h x w window at (hi, wi), (hj, wj)
    read row (hi - hj + h - 1) * (2w - 1) + (wi - wj + w - 1) (Swin's and MaxViT's bias tables)."""
    rows = torch.arange(h, device=device).repeat_interleave(w)
    cols = torch.arange(w, device=device).repeat(h)
    return (rows[:, None] - rows[None, :] + h - 1) * (2 * w - 1) + (cols[:, None] - cols[None, :] + w - 1)


@reference("MatMul")
def matmul(layer, xs, state):
    """A 1-D first factor is a row, a 1-D second factor a column (both dropped after); batch dims broadcast."""
    a, b = xs
    a2 = a.unsqueeze(0) if a.dim() == 1 else a
    b2 = b.unsqueeze(-1) if b.dim() == 1 else b
    batch = torch.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    out = a2.expand(*batch, *a2.shape[-2:]) @ b2.expand(*batch, *b2.shape[-2:])
    shape = tuple(batch) + ((a2.shape[-2],) if a.dim() > 1 else ()) + ((b2.shape[-1],) if b.dim() > 1 else ())
    return out.reshape(shape)


@reference("ScaledDotProductAttention")
def scaled_dot_product_attention(layer, xs, state):
    """scale 1/sqrt(E) unless given; is_causal masks score (i, j) with -inf where j > i (torch's tril mask);
    attn_bias adds the learned `bias.t` (or `bias.t` gathered by `bias.idx`) to the scores."""
    q, k, v = xs
    scale = layer.scale if layer.scale is not None else 1 / math.sqrt(q.shape[-1])
    bias = None
    if layer.attn_bias is not None:
        bias = state["bias.t"]
        if state.get("bias.idx") is not None:
            bias = gathered(bias, state["bias.idx"], layer.gather_dim, layer.attn_bias)
        bias = opmath(bias)
    if layer.is_causal:
        L, S = q.shape[-2], k.shape[-2]
        allowed = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
        bias = torch.zeros(L, S, dtype=opmath(q).dtype, device=q.device).masked_fill(~allowed, float("-inf"))
    return attend(q, k, v, scale, bias)


@reference("MultiheadAttention")
def multihead_attention(layer, xs, state):
    """Project q, k, v (in_proj_weight's three row blocks, or q/k/v_proj_weight when kdim or vdim
    differ), split E into heads, attend per head with scale 1/sqrt(E/heads), join, out_proj.
    Layouts: (L, N, E), (N, L, E) with batch_first, or unbatched (L, E)."""
    q, k, v = (xs * 3)[:3] if len(xs) == 1 else xs
    unbatched = q.dim() == 2
    if unbatched:
        q, k, v = (t.unsqueeze(1) for t in (q, k, v))
    elif layer.batch_first:
        q, k, v = (t.transpose(0, 1) for t in (q, k, v))
    E, H = layer.embed_dim, layer.num_heads
    if state.get("in_proj_weight") is not None:
        weights = state["in_proj_weight"].chunk(3)
    else:
        weights = state["q_proj_weight"], state["k_proj_weight"], state["v_proj_weight"]
    biases = state["in_proj_bias"].chunk(3) if state.get("in_proj_bias") is not None else (None,) * 3

    def heads(t, w, b):   # (S, N, E) -> (N, H, S, E/H)
        p = affine(t, w, b)
        return p.reshape(p.shape[0], p.shape[1], H, E // H).permute(1, 2, 0, 3)

    out = attend(*(heads(t, w, b) for t, w, b in zip((q, k, v), weights, biases)), 1 / math.sqrt(E // H))
    L, N = q.shape[0], q.shape[1]
    out = affine(out.permute(2, 0, 1, 3).reshape(L, N, E), state["out_proj.weight"], state.get("out_proj.bias"))
    if unbatched:
        return out.squeeze(1)
    return out.transpose(0, 1) if layer.batch_first else out


@reference("RelativePositionalMultiHeadAttention")
def relative_positional_attention(layer, xs, state):
    """torchvision's MaxViT: to_qkv, split into q, k, v and heads of head_dim, k scaled by feat_dim^-0.5
    (not head_dim's), scores plus the table's bias for a sqrt(P) x sqrt(P) grid of tokens, merge."""
    x = xs[0]
    B, G, P, D = x.shape
    dh = layer.head_dim
    H = D // dh
    q, k, v = (t.reshape(B, G, P, H, dh).permute(0, 1, 3, 2, 4)
               for t in affine(x, state["to_qkv.weight"], state["to_qkv.bias"]).chunk(3, dim=-1))
    side = math.isqrt(layer.max_seq_len)
    table = state["relative_position_bias_table"]
    bias = opmath(table)[relative_position_index(side, side, x.device)].permute(2, 0, 1)   # (H, P, P)
    out = attend(q, k, v, D ** -0.5, bias).permute(0, 1, 3, 2, 4).reshape(B, G, P, D)
    return affine(out, state["merge.weight"], state["merge.bias"])
