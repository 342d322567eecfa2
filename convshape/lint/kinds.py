"""The layer families lint reasons about, by their base classes (one place to look them up)."""
from __future__ import annotations

from ..layers.activation import Identity, _Activation as Activation
from ..layers.conv import _ConvNd as Conv, _ConvTransposeNd as ConvTranspose
from ..layers.dropout import _DropoutBase as Dropout
from ..layers.linear import Linear
from ..layers.merge import Concat, _Elementwise as Elementwise
from ..layers.norm import GroupNorm, _BatchNormNd as BatchNorm
from ..layers.pool import _AdaptivePoolNd as AdaptivePool, _PoolNd as Pool
from ..layers.shape import Flatten

__all__ = ["Activation", "AdaptivePool", "BatchNorm", "Concat", "Conv", "ConvTranspose", "Dropout",
           "Elementwise", "Flatten", "GroupNorm", "Identity", "Linear", "Pool", "window_axes", "is_window"]


def is_window(layer) -> bool:
    """A sliding window over the input: convolution or (non-adaptive) pooling."""
    return isinstance(layer, (Conv, Pool))


def window_axes(layer) -> list:
    """(kernel, stride, dilation, pad_before, pad_after) per spatial axis of a sliding-window layer."""
    pads = layer.pads() if isinstance(layer, Conv) else [(p, p) for p in layer.p()]
    return list(zip(layer.k(), layer.s(), layer.d(), pads))


def span(kernel: int, dilation: int) -> int:
    """Input positions one (dilated) window covers."""
    return dilation * (kernel - 1) + 1
