"""Re-arrangements as views and copies: flatten, unflatten, permute, reshape, narrow, pixel and channel shuffles."""
from __future__ import annotations

from math import prod

from . import reference


@reference("Flatten")
def flatten(layer, xs, state):
    x = xs[0]
    if x.dim() == 0:
        return x.reshape(1)
    start, end = layer.start_dim % x.dim(), layer.end_dim % x.dim()
    return x.reshape(*x.shape[:start], prod(x.shape[start:end + 1]), *x.shape[end + 1:])


@reference("Unflatten")
def unflatten(layer, xs, state):
    x = xs[0]
    d = layer.dim % x.dim()
    return x.reshape(*x.shape[:d], *layer.unflattened_size, *x.shape[d + 1:])


@reference("Permute")
def permute(layer, xs, state):
    return xs[0].permute(*layer.dims)


@reference("Reshape")
def reshape(layer, xs, state):
    return xs[0].reshape(*layer.shape)


def _permute_tail(x, order):
    """Permute the last len(order) dims; order lists negative dims."""
    lead = x.dim() - len(order)
    return x.permute(*range(lead), *(lead + len(order) + d for d in order))


@reference("PixelShuffle")
def pixel_shuffle(layer, xs, state):
    """(*, C r^2, H, W) -> (*, C, H r, W r): channel c r^2 + i r + j lands at (h r + i, w r + j)."""
    x, r = xs[0], layer.upscale_factor
    *lead, c, h, w = x.shape
    split = x.reshape(*lead, c // (r * r), r, r, h, w)                  # (*, C, i, j, H, W)
    return _permute_tail(split, (-5, -2, -4, -1, -3)).reshape(*lead, c // (r * r), h * r, w * r)


@reference("PixelUnshuffle")
def pixel_unshuffle(layer, xs, state):
    """The inverse: (*, C, H r, W r) -> (*, C r^2, H, W)."""
    x, r = xs[0], layer.downscale_factor
    *lead, c, hr, wr = x.shape
    split = x.reshape(*lead, c, hr // r, r, wr // r, r)                  # (*, C, H, i, W, j)
    return _permute_tail(split, (-5, -3, -1, -4, -2)).reshape(*lead, c * r * r, hr // r, wr // r)


@reference("ChannelShuffle")
def channel_shuffle(layer, xs, state):
    """(N, g * k, ...) -> view (N, g, k, ...) -> swap g and k -> flatten back (ShuffleNet)."""
    x, g = xs[0], layer.groups
    return x.reshape(x.shape[0], g, x.shape[1] // g, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


@reference("Narrow")
def narrow(layer, xs, state):
    """`length` entries of dim `dim` from `start`; a negative start counts from the end."""
    x = xs[0]
    d = layer.dim % x.dim()
    start = layer.start + x.shape[d] if layer.start < 0 else layer.start
    return x[(slice(None),) * d + (slice(start, start + layer.length),)]


@reference("Unsqueeze")
def unsqueeze(layer, xs, state):
    """A new dim of size 1 at `dim`, counted in the output (-1 appends)."""
    x = xs[0]
    d = layer.dim % (x.dim() + 1)
    return x.reshape(*x.shape[:d], 1, *x.shape[d:])


@reference("Squeeze")
def squeeze(layer, xs, state):
    """Drop the size-1 dims among `dim` (every dim when null); a listed dim of another size stays."""
    x = xs[0]
    rank = max(x.dim(), 1)
    listed = range(x.dim()) if layer.dim is None else (layer.dim,) if isinstance(layer.dim, int) else layer.dim
    dropped = {d % rank for d in listed if x.dim() and x.shape[d % rank] == 1}
    return x.reshape([s for d, s in enumerate(x.shape) if d not in dropped])


@reference("Index")
def index(layer, xs, state):
    """Entry by entry over the leading dims: an int selects (its dim goes), [start, stop, step]
    narrows and strides, null inserts a dim of 1; dims past the entries are kept."""
    x, d = xs[0], 0
    for entry in layer.index:
        if entry is None:
            x = x.unsqueeze(d)
            d += 1
        elif isinstance(entry, int):
            x = x.select(d, entry + x.shape[d] if entry < 0 else entry)
        else:
            lo, hi, step = slice(*entry).indices(x.shape[d])
            length = max(0, -(-(hi - lo) // step))
            x = x.narrow(d, lo, (length - 1) * step + 1 if length else 0)
            x = x[(slice(None),) * d + (slice(None, None, step),)]
            d += 1
    return x


@reference("Expand")
def expand(layer, xs, state):
    """A view: size-1 dims repeated with stride 0 (-1 keeps a dim), new leading dims as torch allows."""
    return xs[0].expand(*layer.sizes)


@reference("TensorUnfold")
def tensor_unfold(layer, xs, state):
    """A view: windows of `size` every `step` along `dimension`, the window index in a new last dim."""
    return xs[0].unfold(layer.dimension, layer.size, layer.step)
