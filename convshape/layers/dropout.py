"""Regularizers that are the identity at inference: the Dropout family and stochastic depth.

They cost no arithmetic in the inference convention (docs/conventions.md) and keep the shape.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from typing import Annotated

from .base import Layer, check_rank, register

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _DropoutBase(Layer):
    family: ClassVar[str] = "dropout"
    ranks: ClassVar[tuple | None] = None

    p: Probability = 0.5
    inplace: bool = False

    def output_shape(self, inputs):
        if self.ranks:
            check_rank(self, inputs[0], self.ranks)
        return tuple(inputs[0])


@register
class Dropout(_DropoutBase):
    """Zeroes elements with probability p during training; identity at inference."""


@register
class Dropout1d(_DropoutBase):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs during training."""
    ranks: ClassVar[tuple] = (2, 3)


@register
class Dropout2d(_DropoutBase):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) inputs during training."""
    ranks: ClassVar[tuple] = (3, 4)


@register
class Dropout3d(_DropoutBase):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs during training."""
    ranks: ClassVar[tuple] = (4, 5)


@register
class AlphaDropout(_DropoutBase):
    """Dropout that keeps SELU's self-normalizing mean and variance."""


@register
class FeatureAlphaDropout(_DropoutBase):
    """AlphaDropout over whole channels."""


@register
class StochasticDepth(Layer):
    """torchvision.ops.StochasticDepth: drops a residual branch (row or batch) while training."""

    family: ClassVar[str] = "dropout"
    torch_class: ClassVar[str | None] = "torchvision"

    p: Probability
    mode: Literal["row", "batch"] = "row"

    def to_torch(self, inputs):
        from torchvision.ops import StochasticDepth as SD
        return SD(p=self.p, mode=self.mode)
