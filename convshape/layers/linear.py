"""Linear (over the last dim of any rank), Bilinear-free; torch.nn.Linear semantics."""
from __future__ import annotations

from typing import ClassVar

from ..dims import prod
from ..errors import ShapeError
from .base import GlobalOver, Layer, Params, PosInt, concrete_channels, register
from .examples import Example, Rejected


@register
class Linear(Layer):
    """y = x W^T + b over the last dimension; other dims are batch-like."""

    family: ClassVar[str] = "linear"
    inferred: ClassVar[tuple] = ("in_features",)
    has_weight_macs: ClassVar[bool] = True

    out_features: PosInt
    bias: bool = True
    in_features: PosInt | None = None

    examples: ClassVar[tuple] = (
        # 2 * 10 outputs * 5 in = 100 MACs
        Example({"out_features": 10}, ((2, 5),)),
        Example({"out_features": 4, "bias": False}, ((2, 3, 7, 6),), note="over the last dim of any rank"),
        Example({"out_features": 3, "in_features": 6}, ((6,),)),
        Rejected({"out_features": 3, "in_features": 5}, ((2, 6),), torch_says="cannot be multiplied"),
    )

    def infer(self, inputs):
        if not inputs[0]:
            raise ShapeError("expects an input with at least 1 dim, got a 0-D input", argument="input", value=[])
        return {"in_features": concrete_channels(inputs[0], -1, "feature (last)", self.in_features, "in_features")}

    def output_shape(self, inputs):
        return tuple(inputs[0][:-1]) + (self.out_features,)

    def params(self, inputs):
        f = self.infer(inputs)["in_features"]
        return Params(trainable=f * self.out_features + (self.out_features if self.bias else 0))

    def macs(self, inputs, output):
        return prod(output) * self.infer(inputs)["in_features"]

    def other_ops(self, inputs, output):
        return prod(output) if self.bias else 0

    def receptive_field(self, inputs, output):
        return GlobalOver(dims=(len(inputs[0]) - 1,))
