"""Learnable per-channel scale (ConvNeXt's layer scale, CaiT's LayerScale)."""
from __future__ import annotations

from typing import ClassVar

from ..dims import prod
from ..errors import ShapeError
from .base import Int, Layer, Number, Params, PosInt, concrete_channels, register
from .examples import Example, Rejected


@register
class LayerScale(Layer):
    """y = gamma * x with one learned gamma per channel of dim `dim` (ConvNeXt: dim 1, init 1e-6)."""

    family: ClassVar[str] = "scale"
    torch_class: ClassVar[str | None] = None
    inferred: ClassVar[tuple] = ("channels",)

    dim: Int = 1
    init: Number = 1e-6
    channels: PosInt | None = None

    examples: ClassVar[tuple] = (
        Example({}, ((2, 8, 5, 5),)),
        Example({"dim": -1, "init": 0.1}, ((2, 5, 5, 8),), note="channels-last"),
        Rejected({"channels": 4}, ((2, 8, 5, 5),), torch_says="must match the size of tensor|channels but dim 1"),
        Rejected({"dim": 4, "channels": 8}, ((2, 8, 5, 5),), torch_says="out of range|must match the size of tensor"),
    )

    def infer(self, inputs):
        x = inputs[0]
        if not -len(x) <= self.dim < len(x):
            raise ShapeError(f"dim={self.dim} is out of range for a {len(x)}-D input", argument="dim", value=self.dim)
        d = self.dim % len(x)
        return {"channels": concrete_channels(x, d, "scaled", self.channels, "channels")}

    def torch_kwargs(self, inputs):
        # gamma shaped to broadcast against the input, as torchvision's ConvNeXt stores it: (C, 1, 1)
        kwargs = super().torch_kwargs(inputs)
        kwargs["trailing"] = len(inputs[0]) - 1 - self.dim % len(inputs[0])
        return kwargs

    def params(self, inputs):
        return Params(trainable=self.infer(inputs)["channels"])

    def other_ops(self, inputs, output):
        return prod(output)  # one multiply per element
