"""The Pad family: explicit index arithmetic for reflect / replicate / circular, a filled copy for constants."""
from __future__ import annotations

from . import ranks, reference
from .common import pad


def _pads(layer, n):
    """torch's padding tuple runs from the last dim backwards: (left, right, top, bottom, front, back)."""
    p = layer.padding
    flat = (p,) * (2 * n) if isinstance(p, int) else tuple(p)
    return [(flat[2 * (n - 1 - i)], flat[2 * (n - 1 - i) + 1]) for i in range(n)]


def _padder(mode):
    def kernel(layer, xs, state):
        n = int(layer.kind[-2])
        return pad(xs[0], _pads(layer, n), mode, float(getattr(layer, "value", 0.0)))
    kernel.__name__ = f"{mode}_pad"
    return kernel


reference(*ranks("ZeroPad"), *ranks("ConstantPad"))(_padder("constant"))
reference(*ranks("ReflectionPad"))(_padder("reflect"))
reference(*ranks("ReplicationPad"))(_padder("replicate"))
reference(*ranks("CircularPad"))(_padder("circular"))
