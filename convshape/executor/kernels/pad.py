"""The Pad family: explicit index arithmetic for reflect / replicate / circular, a filled copy for constants."""
from __future__ import annotations

from . import ranks, reference
from .common import pad


def _pads(layer, n):
    """(before, after) for the last m dims, first dim first. torch's padding runs from the last dim
    backwards, (left, right, top, bottom, front, back); an int pads the kind's n dims, a tuple of
    2m entries pads m dims whatever the kind's rank."""
    p = layer.padding
    flat = (p,) * (2 * n) if isinstance(p, int) else tuple(p)
    m = len(flat) // 2
    return [(flat[2 * (m - 1 - i)], flat[2 * (m - 1 - i) + 1]) for i in range(m)]


def _padder(mode):
    def kernel(layer, xs, state):
        return pad(xs[0], _pads(layer, int(layer.kind[-2])), mode, float(getattr(layer, "value", 0.0)))
    kernel.__name__ = f"{mode}_pad"
    return kernel


reference(*ranks("ZeroPad"), *ranks("ConstantPad"))(_padder("constant"))
reference(*ranks("ReflectionPad"))(_padder("reflect"))
reference(*ranks("ReplicationPad"))(_padder("replicate"))
reference(*ranks("CircularPad"))(_padder("circular"))
