"""timm EdgeNeXt's Fourier positional encoding, from the input's shape alone.

The features are computed in float32, as timm does whatever the weight's dtype, and cast to it
before the 1x1 projection (a matmul over the channels).
"""
from __future__ import annotations

import math

import torch

from . import reference


def _interleave(pos):
    """sin of the even frequencies and cos of the odd ones, interleaved: (..., k) -> (..., k)."""
    return torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=-1).flatten(-2)


@reference("PositionalEncodingFourier")
def positional_encoding_fourier(layer, xs, state):
    b, _, h, w = xs[0].shape   # read for its shape only
    weight, bias = state["token_projection.weight"], state["token_projection.bias"]
    ones = torch.ones((b, h, w), dtype=torch.float32, device=weight.device)
    y_embed, x_embed = ones.cumsum(1), ones.cumsum(2)   # 1-based row and column index, no mask
    y_embed = y_embed / (y_embed[:, -1:, :] + 1e-6) * (2 * math.pi)
    x_embed = x_embed / (x_embed[:, :, -1:] + 1e-6) * (2 * math.pi)
    i = torch.arange(layer.hidden_dim, dtype=torch.float32, device=weight.device)
    dim_t = layer.temperature ** (2 * torch.div(i, 2, rounding_mode="floor") / layer.hidden_dim)
    pos_y, pos_x = _interleave(y_embed[..., None] / dim_t), _interleave(x_embed[..., None] / dim_t)
    features = torch.cat((pos_y, pos_x), dim=-1).to(weight.dtype)   # channels-last (B, H, W, 2h)
    out = features @ weight.reshape(weight.shape[0], -1).t() + bias
    return out.movedim(-1, 1)
