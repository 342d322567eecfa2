"""Saved-tensor and temporaries rules of torchvision's windowed attention modules: Swin V1 and
V2 (shifted_window_attention; V2 with cosine attention and a position-bias MLP) and MaxViT
(RelativePositionalMultiHeadAttention), derived like rules.py's
(torch 2.14 on CPU, saved_tensors_hooks and the live-storage tracker, following the modules' code
line by line) and checked by tests/test_memory_contract.py on their examples and variants.

Sizes, all in the dtype: X = one activation (padded tokens x C), A = the attention scores (windows or
groups x heads x N x N), R = the relative position bias (heads x N x N).
"""
from __future__ import annotations

from ..dims import prod
from .rules import Saved, during, saves


def _sizes(layer, x, width):
    """(X, A, R, windows, N, view) in bytes, or None for symbolic sizes (the padding, the shift and
    which reshapes are views depend on them). view: the (windows, heads) merge of k and v is a view
    (one window or one head), so matmul keeps them as views of the qkv output instead of copies."""
    if not all(type(d) is int for d in x):
        return None
    n, t, _ = layer.windows(x)
    h = layer.num_heads
    tokens = n * t
    return tokens * x[-1] * width, n * h * t * t * width, h * t * t * width, n, t, n == 1 or h == 1


def _clipped_index(layer, x):
    """Bytes of video Swin's index copy: a window clipped to a short axis reads index[:N, :N] of the
    full window's buffer, a strided slice that .flatten() copies (int64); 0 for an unclipped window."""
    if layer.kind != "ShiftedWindowAttention3d":
        return 0
    t = layer.windows(x)[1]
    return 8 * t * t if t < prod(layer.window_size) else 0


@saves("ShiftedWindowAttention", "ShiftedWindowAttention3d")
def _window_attention(layer, inputs, output, grads, width):
    if grads.training and (layer.attention_dropout or layer.dropout):
        return None   # the dropout masks and what the matmuls then keep: not derived
    sizes = _sizes(layer, inputs[0], width)
    if sizes is None:
        return None
    X, A, _, _, _, view = sizes
    # q * scale (X); k^T and v as bmm copies (2X), or the qkv output they view (3X); softmax's result
    # (A); with weight gradients the inputs of the qkv and proj linears (window partition, merged heads)
    # and, for a clipped video window, the index copy the table lookup keeps
    return Saved(extra=(X, 3 * X if view else 2 * X, A)
                 + ((X, X, _clipped_index(layer, inputs[0])) if grads.weight else ()))


@during("ShiftedWindowAttention", "ShiftedWindowAttention3d")
def _window_attention_temporaries(layer, inputs, output, width, training):
    x = inputs[0]
    sizes = _sizes(layer, x, width)
    if sizes is None:
        return None
    X, A, R, n, t, view = sizes
    copy = 0 if view else X                          # k^T's and v's bmm copies
    out = prod(x) * width
    shifted = layer.shifted(x)
    padded = X != out
    held = R + X + 3 * X                             # the bias, the window partition and qkv: held to the end
    steps = [2 * R,                                  # table[index] and its contiguous permute
             _clipped_index(layer, x) + R,           # video Swin's index copy beside table[index]
             R + X + (X if shifted else 0),          # F.pad's copy (and the roll)
             R + 2 * X,                              # the partition's copy beside its source
             held + X + copy + A,                    # q * scale, k^T's copy, the scores
             held + X + 2 * A]                       # scores + bias
    if shifted:
        m = (n // x[0]) * t * t                      # the mask: windows x N x N
        steps += [held + X + A + 3 * m * width + m,  # its difference, two masked_fills and a bool
                  held + X + 2 * A + m * width]      # scores + mask
    steps += [held + X + A + copy + X,               # v's copy, attn @ v
              held + X + A + 2 * X]                  # the heads merged (transpose copy), proj, reverse partition
    if padded:
        steps.append(held + X + A + X + out)         # the crop's contiguous copy
    return max(steps) - out


# ---------------------------------------------------------------- MaxViT's relative attention (torchvision)
def _rel_sizes(layer, x, width):
    """(X, A, R, view) in bytes for an input (B, G, P, D), or None for symbolic sizes. view: the
    (B, G, heads) merge of q and v is a view (B * G == 1 or one head): einsum then keeps them as
    views of the qkv output instead of copies."""
    if not all(type(d) is int for d in x):
        return None
    b, g, p, d = x
    h = d // layer.head_dim
    return b * g * p * d * width, b * g * h * p * p * width, h * layer.max_seq_len ** 2 * width, b * g == 1 or h == 1


@saves("RelativePositionalMultiHeadAttention")
def _relative_attention(layer, inputs, output, grads, width):
    sizes = _rel_sizes(layer, inputs[0], width)
    if sizes is None:
        return None
    X, A, _, view = sizes
    # k * scale's bmm copy (X); q and v as copies (2X) or the qkv output they view (3X); softmax's
    # result (A); with weight gradients the input (to_qkv's) and the merged heads (merge's input)
    return Saved(inputs=(0,) if grads.weight else (), extra=(X, 3 * X if view else 2 * X, A)
                 + ((X,) if grads.weight else ()))


@during("RelativePositionalMultiHeadAttention")
def _relative_attention_temporaries(layer, inputs, output, width, training):
    sizes = _rel_sizes(layer, inputs[0], width)
    if sizes is None:
        return None
    X, A, R, view = sizes
    copy = 0 if view else X                          # q's and v's bmm copies inside einsum
    held = 3 * X + X                                 # qkv and k * scale: locals to the end
    return max(held + copy + X + A,                  # q @ k: q's and k's copies, the scores
               held + A + 2 * R,                     # table[index] and its contiguous permute
               held + R + 3 * A,                     # scores, scores + bias, softmax
               held + R + A + copy + X,              # attn @ v: v's copy and the product
               held + R + A + 2 * X) - X             # the heads merged (a copy), merge's output


# ---------------------------------------------------------------- Swin V2: cosine attention, position-bias MLP
@saves("ShiftedWindowAttentionV2")
def _window_attention_v2(layer, inputs, output, grads, width):
    from ..layers.window_attention import CPB_HIDDEN
    if grads.training and (layer.attention_dropout or layer.dropout):
        return None
    sizes = _sizes(layer, inputs[0], width)
    if sizes is None:
        return None
    X, A, R, n, t, view = sizes
    norms = 4 * n * layer.num_heads * t * width      # F.normalize of q and k: the norm and its clamp, each
    # qkv (q and k are normalised from its views), the normalised q and k's bmm copies, v's copy
    # (none when it is a view of qkv), exp(logit_scale) and the softmax result
    kept = (3 * X, norms, 2 * X, 0 if view else X, layer.num_heads * width, A)
    if grads.weight:
        # the MLP's hidden ReLU (per table entry), sigmoid's result, the scores before the logit scale,
        # and the inputs of the qkv and proj linears
        kept += (layer.table() * CPB_HIDDEN * width, R, A, X, X)
    return Saved(extra=kept)


@during("ShiftedWindowAttentionV2")
def _window_attention_v2_temporaries(layer, inputs, output, width, training):
    from ..layers.window_attention import CPB_HIDDEN
    x = inputs[0]
    sizes = _sizes(layer, x, width)
    if sizes is None:
        return None
    X, A, R, n, t, view = sizes
    h, table = layer.num_heads, layer.table()
    norm = n * h * t * width
    copy = 0 if view else X
    out = x[0] * x[1] * x[2] * x[3] * width
    shifted = layer.shifted(x)
    steps = [table * (CPB_HIDDEN + h) * width,       # the MLP's hidden layer and its output
             table * h * width + 2 * R,              # table[index] and its contiguous permute
             3 * R]                                  # sigmoid and 16 * it beside the bias
    held = R + (3 * x[3] * width if layer.qkv_bias else 0)   # the bias, qkv_bias.clone()
    steps += [held + X + (X if shifted else 0), held + 2 * X]   # F.pad (and roll), the partition
    held += 4 * X                                    # the window partition and qkv: held to the end
    steps += [held + X + 2 * norm,                   # normalize(q): its norm and clamp
              held + 2 * X + 2 * norm,               # normalize(k) beside q's
              held + 2 * X + 2 * copy + A]           # their bmm copies and the scores
    held += h * width                                # exp(logit_scale)
    steps += [held + 2 * A + h * width, held + 2 * A]   # scores * scale, + bias
    if shifted:
        m = (n // x[0]) * t * t
        steps += [held + A + 3 * m * width + m, held + 2 * A + m * width]
    steps += [held + A + copy + X, held + A + 2 * X]
    if X != out:
        steps.append(held + A + X + out)
    return max(steps) - out
