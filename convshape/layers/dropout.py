"""Regularizers that are the identity at inference: the Dropout family and stochastic depth.

They cost no arithmetic in the inference convention (docs/conventions.md) and keep the shape.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Layer, check_rank, register
from .examples import Example, Rejected

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _DropoutBase(Layer):
    family: ClassVar[str] = "dropout"
    ranks: ClassVar[tuple | None] = None

    p: Probability = 0.5
    inplace: bool = False

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 4, 5),)),
        Example({"p": 0.1, "inplace": True}, ((2, 3, 4),)),
        Example({"p": 0.0}, ((5,),), note="any rank (Dropout2d/3d only warn)"),
        Rejected({"p": 1.5}, ((2, 3, 4),), torch_says="probability has to be between 0 and 1"),
    )

    def output_shape(self, inputs):
        if self.ranks:
            check_rank(self, inputs[0], self.ranks)
        return tuple(inputs[0])


@register
class Dropout(_DropoutBase):
    """Zeroes elements with probability p during training; identity at inference."""


@register
class Dropout1d(_DropoutBase):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs during training; torch refuses other ranks."""
    ranks: ClassVar[tuple] = (2, 3)

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 4),)),
        Example({"p": 0.2}, ((3, 4),)),
        Rejected({}, ((2, 3, 4, 5),), torch_says="Expected 2D or 3D input"),
    )


@register
class Dropout2d(_DropoutBase):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) inputs during training.

    torch only warns for other ranks (and is the identity in eval mode), so any rank is accepted.
    """


@register
class Dropout3d(_DropoutBase):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs during training.

    torch only warns for other ranks (and is the identity in eval mode), so any rank is accepted.
    """


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

    examples: ClassVar[tuple] = (
        Example({"p": 0.2}, ((2, 3, 4, 5),)),
        Example({"p": 0.0, "mode": "batch"}, ((4, 8),)),
        Rejected({"p": 1.5}, ((2, 3),), torch_says="drop probability has to be between 0 and 1"),
        Rejected({"p": 0.5, "mode": "col"}, ((2, 3),), torch_says="mode has to be either"),
    )

    def to_torch(self, inputs):
        from torchvision.ops import StochasticDepth as SD
        return SD(p=self.p, mode=self.mode)
