"""Learnable per-channel scale (ConvNeXt's layer scale, CaiT's LayerScale)."""
from __future__ import annotations

from typing import ClassVar

from ..dims import prod
from .base import Int, Layer, Number, Params, concrete_channels, register


@register
class LayerScale(Layer):
    """y = gamma * x with one learned gamma per channel of dim `dim` (ConvNeXt: dim 1, init 1e-6)."""

    family: ClassVar[str] = "scale"
    torch_class: ClassVar[str | None] = None
    inferred: ClassVar[tuple] = ("channels",)

    dim: Int = 1
    init: Number = 1e-6
    channels: Int | None = None

    def infer(self, inputs):
        x = inputs[0]
        d = self.dim % len(x)
        return {"channels": concrete_channels(x, d, "scaled", self.channels, "channels")}

    def params(self, inputs):
        return Params(trainable=self.infer(inputs)["channels"])

    def other_ops(self, inputs, output):
        return prod(output)  # one multiply per element
