"""Normalization layers.

Cost convention (docs/conventions.md): BatchNorm at inference is a folded scale and shift,
2 ops per element. Norms that compute statistics from the input (Layer/Group/Instance) cost
5 ops per element (mean: add; variance: subtract, square, add; normalize: multiply) plus 2
for the affine scale and shift. Their receptive field spans the normalized dims.
"""
from __future__ import annotations

from typing import ClassVar

from ..dims import prod
from ..errors import ShapeError
from .base import (GlobalOver, Layer, Number, Params, PosInt, check_rank, concrete_channels, register,
                   register_ranks)
from pydantic import model_validator


class _BatchNormNd(Layer):
    """Normalizes each channel (dim 1) with batch statistics; running stats are buffers."""

    family: ClassVar[str] = "norm"
    ndim: ClassVar[int] = 2
    inferred: ClassVar[tuple] = ("num_features",)

    num_features: PosInt | None = None
    eps: Number = 1e-5
    momentum: Number | None = 0.1
    affine: bool = True
    track_running_stats: bool = True

    @model_validator(mode="after")
    def _eps_positive(self):
        # torch's batch_norm: eps >= 0; with batch statistics (no running stats) eps > 0
        if self.eps < 0 or (self.eps == 0 and not self.track_running_stats):
            raise ValueError(f"eps must be {'non-negative' if self.track_running_stats else 'positive'} "
                             f"(torch's batch_norm), got {self.eps}")
        return self

    def ranks(self):
        return (2, 3) if self.ndim == 1 else (self.ndim + 2,)

    def infer(self, inputs):
        check_rank(self, inputs[0], self.ranks())
        return {"num_features": concrete_channels(inputs[0], 1, "channel", self.num_features, "num_features")}

    def params(self, inputs):
        c = self.infer(inputs)["num_features"]
        return Params(trainable=2 * c if self.affine else 0)

    def buffers(self, inputs):
        c = self.infer(inputs)["num_features"]
        # running_mean, running_var (C each) and num_batches_tracked (one int64)
        return 2 * c + 1 if self.track_running_stats else 0

    def other_ops(self, inputs, output):
        return 2 * prod(output)  # inference: y = x * scale + shift per element

    def torch_kwargs(self, inputs):
        kw = self.model_dump()
        kw["num_features"] = self.infer(inputs)["num_features"]
        return kw


BatchNorm1d, BatchNorm2d, BatchNorm3d = register_ranks(_BatchNormNd, name="BatchNorm")


STATS_OPS = 5   # per element: mean (1) + variance (3) + normalize (1)
AFFINE_OPS = 2  # per element: scale and shift


@register
class LayerNorm(Layer):
    """Normalizes over the trailing `normalized_shape` dims (e.g. channels-last in ConvNeXt)."""

    family: ClassVar[str] = "norm"

    normalized_shape: PosInt | tuple[PosInt, ...]
    eps: Number = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def shape_(self):
        ns = self.normalized_shape
        return ns if isinstance(ns, tuple) else (ns,)

    def output_shape(self, inputs):
        x = inputs[0]
        ns = self.shape_()
        tail = tuple(x[-len(ns):]) if len(x) >= len(ns) else None
        if tail is None or any(not (type(a) is int and a == b) for a, b in zip(tail, ns)):
            raise ShapeError(f"normalized_shape {list(ns)} does not match the input's trailing dims "
                             f"{list(tail) if tail else list(x)}", argument="normalized_shape", value=list(ns))
        return tuple(x)

    def params(self, inputs):
        n = prod(self.shape_())
        if not self.elementwise_affine:
            return Params()
        return Params(trainable=n * (2 if self.bias else 1))

    def other_ops(self, inputs, output):
        return prod(output) * (STATS_OPS + (AFFINE_OPS if self.elementwise_affine else 0))

    def receptive_field(self, inputs, output):
        r = len(inputs[0])
        return GlobalOver(dims=tuple(range(r - len(self.shape_()), r)))


@register
class GroupNorm(Layer):
    """Normalizes groups of channels over channels-in-group and all spatial dims."""

    family: ClassVar[str] = "norm"
    inferred: ClassVar[tuple] = ("num_channels",)

    num_groups: PosInt
    num_channels: PosInt | None = None
    eps: Number = 1e-5
    affine: bool = True

    @model_validator(mode="after")
    def _divides(self):
        if self.num_channels is not None and self.num_channels % self.num_groups:
            raise ValueError(f"num_channels={self.num_channels} must be divisible by num_groups={self.num_groups}")
        return self

    def infer(self, inputs):
        x = inputs[0]
        check_rank(self, x, tuple(range(2, 9)))
        c = concrete_channels(x, 1, "channel", self.num_channels, "num_channels")
        if c % self.num_groups:
            raise ShapeError(f"{c} channels are not divisible by num_groups={self.num_groups}",
                             argument="num_groups", value=self.num_groups)
        return {"num_channels": c}

    def params(self, inputs):
        return Params(trainable=2 * self.infer(inputs)["num_channels"] if self.affine else 0)

    def other_ops(self, inputs, output):
        return prod(output) * (STATS_OPS + (AFFINE_OPS if self.affine else 0))

    def receptive_field(self, inputs, output):
        return GlobalOver(dims=tuple(range(2, len(inputs[0]))))

    def torch_kwargs(self, inputs):
        kw = self.model_dump()
        kw["num_channels"] = self.infer(inputs)["num_channels"]
        return kw
