"""Layer kinds, one module per family; importing this package fills REGISTRY."""
from .base import REGISTRY, Layer, register  # noqa: F401
from . import activation, arith, attention, conv, dropout, linear, merge, norm, pad, pool, position, recurrent, reduce, resample, scale, select, shape, window_attention  # noqa: F401
