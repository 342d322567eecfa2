"""Layer kinds, one module per family; importing this package fills REGISTRY."""
from .base import REGISTRY, Layer, register  # noqa: F401
from . import activation, conv, dropout, linear, merge, norm, pad, pool, resample, scale, select, shape  # noqa: F401
