"""Normalization layers: BatchNorm, InstanceNorm (1-3d), LayerNorm, GroupNorm, LocalResponseNorm.

Cost convention (docs/conventions.md), per element, at inference (eval mode):
  - a norm that uses running statistics (BatchNorm, InstanceNorm with track_running_stats) is a
    folded scale and shift: 2 ops;
  - a norm that computes statistics from its input (LayerNorm, GroupNorm, InstanceNorm, BatchNorm
    without running stats) costs 5 (mean: add; variance: subtract, square, add; normalize:
    multiply) plus 1 for an affine weight and 1 for an affine bias;
  - LocalResponseNorm costs size + 5: square, the window mean over `size` channels (size - 1 adds
    and a divide), then * alpha, + k, ** beta and the division of x.
The receptive field of a norm that computes statistics spans the dims it reduces over.

torch checks the written num_features / num_channels against the input only when something is
sized by it (affine weights or running statistics); otherwise it accepts a different value, and so
does convshape. In eval mode a norm that computes batch or instance statistics needs more than one
value per statistic (torch's "Expected more than 1 value per channel").
"""
from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from ..dims import prod, require_eq, require_ge
from ..errors import ShapeError, SizeDependentError
from .base import (GlobalOver, Layer, Number, Params, PosInt, check_rank, concrete_channels, register,
                   register_ranks)
from .examples import WRONG_RANK, Example, PerAxis, Rejected

STATS_OPS = 5   # per element: mean (1) + variance (3) + normalize (1)
FOLDED_OPS = 2  # per element: running statistics and affine folded into one scale and shift


def affine_ops(affine: bool, bias: bool) -> int:
    return (1 + (1 if bias else 0)) if affine else 0


def feature_count(layer, x, dim: int, written, name: str, used: bool):
    """The feature count torch builds the layer with: inferred from dim `dim`, or the written value.

    When nothing is sized by it (`used` False) torch never compares it with the input, so a written
    value is taken as it is.
    """
    if written is not None and not used:
        return written
    return concrete_channels(x, dim, "channel", written, name)


def require_more_than_one(count, what: str):
    require_ge(count, 2, lambda: f"expected more than 1 value per {what} (got {count}): statistics of a "
               f"single value are undefined", argument="input", received=count)


class _StatsNormNd(Layer):
    """Shared by BatchNorm and InstanceNorm: per-channel affine weights and optional running statistics.

    Inference uses the running statistics when tracked (a folded scale and shift); otherwise torch
    computes statistics from the input even in eval mode, over `reduced_dims`.
    """

    family: ClassVar[str] = "norm"
    ndim: ClassVar[int] = 2
    inferred: ClassVar[tuple] = ("num_features",)
    statistic: ClassVar[str] = "channel"  # what one statistic is computed over, for messages

    num_features: PosInt | None = None
    eps: Number = 1e-5
    momentum: Number | None = 0.1
    affine: bool = True
    track_running_stats: bool = True
    bias: bool = True

    def ranks(self) -> tuple:
        raise NotImplementedError

    def feature_dim(self, x) -> int:
        raise NotImplementedError

    def reduced_dims(self, x) -> tuple:
        """Dims a statistic computed from the input runs over (besides the spatial ones: the batch)."""
        raise NotImplementedError

    def sized_by_features(self) -> bool:
        return self.affine or self.track_running_stats

    def infer(self, inputs):
        x = inputs[0]
        check_rank(self, x, self.ranks())
        return {"num_features": feature_count(self, x, self.feature_dim(x), self.num_features, "num_features",
                                              self.sized_by_features())}

    def output_shape(self, inputs):
        x = inputs[0]
        if not self.track_running_stats:
            require_more_than_one(prod(x[d] for d in self.reduced_dims(x)), self.statistic)
        return tuple(x)

    def params(self, inputs):
        c = self.infer(inputs)["num_features"]
        return Params(trainable=c * affine_ops(self.affine, self.bias))

    def buffers(self, inputs):
        c = self.infer(inputs)["num_features"]
        # running_mean, running_var (C each) and num_batches_tracked (one int64)
        return 2 * c + 1 if self.track_running_stats else 0

    def other_ops(self, inputs, output):
        if self.track_running_stats:
            return FOLDED_OPS * prod(output)
        return prod(output) * (STATS_OPS + affine_ops(self.affine, self.bias))

    def receptive_field(self, inputs, output):
        if self.track_running_stats:
            return super().receptive_field(inputs, output)
        x = inputs[0]
        return GlobalOver(dims=tuple(d for d in self.reduced_dims(x) if d >= len(x) - self.ndim))

    def torch_kwargs(self, inputs):
        kw = self.model_dump()
        kw["num_features"] = self.infer(inputs)["num_features"]
        return kw


class _BatchNormNd(_StatsNormNd):
    """Normalizes each channel (dim 1) over the batch and spatial dims; running stats are buffers."""

    @model_validator(mode="after")
    def _eps_positive(self):
        # torch's batch_norm: eps >= 0; with batch statistics (no running stats) eps > 0
        if self.eps < 0 or (self.eps == 0 and not self.track_running_stats):
            raise ValueError(f"eps must be {'non-negative' if self.track_running_stats else 'positive'} "
                             f"(torch's batch_norm), got {self.eps}")
        return self

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, PerAxis(4, 5, 3)),)),
        Example({"num_features": 3, "affine": False, "momentum": None, "eps": 1e-3}, ((1, 3, PerAxis(2, 2, 2)),)),
        Example({"bias": False}, ((2, 4, PerAxis(3, 3, 3)),)),
        Example({"track_running_stats": False}, ((2, 3, PerAxis(1, 1, 1)),), note="batch statistics over 2 values"),
        # nothing is sized by num_features: torch accepts a value that differs from the input
        Example({"num_features": 5, "affine": False, "track_running_stats": False}, ((2, 3, PerAxis(2, 2, 2)),)),
        Rejected({"num_features": 5, "track_running_stats": False}, ((2, 3, PerAxis(2, 2, 2)),),
                 torch_says="should contain 3 elements not 5"),
        Rejected({"track_running_stats": False}, ((1, 3, PerAxis(1, 1, 1)),), torch_says="more than 1 value per channel"),
        Rejected({"num_features": 3}, ((3, PerAxis(4, 4, 4)),), torch_says=WRONG_RANK + "|running_mean"),
    )

    def ranks(self):
        return (2, 3) if self.ndim == 1 else (self.ndim + 2,)

    def feature_dim(self, x):
        return 1

    def reduced_dims(self, x):
        return (0,) + tuple(range(2, len(x)))


BatchNorm1d, BatchNorm2d, BatchNorm3d = register_ranks(_BatchNormNd, name="BatchNorm")


class _InstanceNormNd(_StatsNormNd):
    """Normalizes each channel of each sample over its spatial dims; (N, C, *) or unbatched (C, *)."""

    statistic: ClassVar[str] = "instance and channel (spatial elements)"

    affine: bool = False
    track_running_stats: bool = False

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, PerAxis(4, 5, 3)),)),
        Example({"affine": True, "eps": 1e-3}, ((1, 4, PerAxis(3, 2, 2)),)),
        Example({"affine": True, "bias": False, "track_running_stats": True}, ((2, 3, PerAxis(1, 1, 1)),),
                note="running statistics: a single spatial value is fine"),
        Example({"num_features": 3}, ((3, PerAxis(4, 3, 2)),), note="unbatched: channels are dim 0"),
        Example({"num_features": 7}, ((2, 3, PerAxis(4, 3, 2)),), note="torch only warns: nothing is sized by it"),
        Rejected({"num_features": 7, "affine": True}, ((2, 3, PerAxis(4, 3, 2)),), torch_says="to match num_features"),
        Rejected({"num_features": 7, "track_running_stats": True}, ((2, 3, PerAxis(4, 3, 2)),),
                 torch_says="running_mean should contain"),
        Rejected({}, ((2, 3, PerAxis(1, 1, 1)),), torch_says="more than 1 spatial element"),
        Rejected({"num_features": 2}, ((1, 2, 3, PerAxis(4, 4, 4)),), torch_says=WRONG_RANK),
    )

    def ranks(self):
        return (self.ndim + 1, self.ndim + 2)

    def feature_dim(self, x):
        return len(x) - self.ndim - 1

    def reduced_dims(self, x):
        return tuple(range(len(x) - self.ndim, len(x)))


InstanceNorm1d, InstanceNorm2d, InstanceNorm3d = register_ranks(_InstanceNormNd, name="InstanceNorm")


@register
class LayerNorm(Layer):
    """Normalizes over the trailing `normalized_shape` dims (e.g. channels-last in ConvNeXt)."""

    family: ClassVar[str] = "norm"

    normalized_shape: PosInt | Annotated[tuple[PosInt, ...], Field(min_length=1)]
    eps: Number = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    examples: ClassVar[tuple] = (
        Example({"normalized_shape": 5}, ((2, 3, 5),)),
        Example({"normalized_shape": (4, 5), "bias": False}, ((2, 3, 4, 5),)),
        Example({"normalized_shape": (3, 4, 5), "elementwise_affine": False}, ((3, 4, 5),)),
        Rejected({"normalized_shape": (4, 5)}, ((2, 3, 5, 4),), torch_says="expected input with shape"),
        Rejected({"normalized_shape": (3, 4, 5)}, ((4, 5),), torch_says="expected input with shape"),
        Rejected({"normalized_shape": ()}, ((4, 5),), torch_says="at least 1-dimensional"),
    )

    def shape_(self):
        ns = self.normalized_shape
        return ns if isinstance(ns, tuple) else (ns,)

    def output_shape(self, inputs):
        x = inputs[0]
        ns = self.shape_()
        if len(x) < len(ns):
            raise ShapeError(f"normalized_shape {list(ns)} has more dims than the {len(x)}-D input",
                             argument="normalized_shape", value=list(ns))
        tail = tuple(x[len(x) - len(ns):])
        for axis, (have, want) in enumerate(zip(tail, ns)):
            require_eq(have, want, lambda: f"normalized_shape {list(ns)} does not match the input's trailing "
                       f"dims {[str(d) for d in tail]}", argument="normalized_shape", received=list(ns))
        return tuple(x)

    def params(self, inputs):
        return Params(trainable=prod(self.shape_()) * affine_ops(self.elementwise_affine, self.bias))

    def other_ops(self, inputs, output):
        return prod(output) * (STATS_OPS + affine_ops(self.elementwise_affine, self.bias))

    def receptive_field(self, inputs, output):
        r = len(inputs[0])
        return GlobalOver(dims=tuple(range(r - len(self.shape_()), r)))


@register
class GroupNorm(Layer):
    """Normalizes groups of channels over channels-in-group and all spatial dims; (N, C, *)."""

    family: ClassVar[str] = "norm"
    inferred: ClassVar[tuple] = ("num_channels",)

    num_groups: PosInt
    num_channels: PosInt | None = None
    eps: Number = 1e-5
    affine: bool = True
    bias: bool = True

    examples: ClassVar[tuple] = (
        Example({"num_groups": 2}, ((2, 4, 5, 5),)),
        Example({"num_groups": 3, "affine": False}, ((1, 6, 4),)),
        Example({"num_groups": 2, "bias": False}, ((1, 4),)),
        Example({"num_groups": 4, "num_channels": 4}, ((1, 4, 2),), note="one channel per group, 2 values"),
        Example({"num_groups": 1}, ((1, 4, 1, 1, 1, 1, 1, 1, 1, 2),), note="any rank >= 2"),
        Example({"num_groups": 2, "num_channels": 4, "affine": False}, ((1, 6, 3),),
                note="torch ignores num_channels when nothing is sized by it"),
        Rejected({"num_groups": 2, "num_channels": 4}, ((1, 6, 3),), torch_says="Expected weight to be a vector"),
        Rejected({"num_groups": 3, "num_channels": 4}, ((1, 4, 3),), torch_says="must be divisible by num_groups"),
        Rejected({"num_groups": 4, "num_channels": 6, "affine": False}, ((1, 6, 3),), torch_says="must be divisible"),
        Rejected({"num_groups": 4}, ((1, 4, 1),), torch_says="more than 1 value per channel"),
        Rejected({"num_groups": 2, "num_channels": 4}, ((4,),), torch_says="at least 2 dimensions"),
    )

    @model_validator(mode="after")
    def _divides(self):
        if self.num_channels is not None and self.num_channels % self.num_groups:
            raise ValueError(f"num_channels={self.num_channels} must be divisible by num_groups={self.num_groups}")
        return self

    def infer(self, inputs):
        x = inputs[0]
        if len(x) < 2:
            raise ShapeError(f"expects an (N, C, *) input with at least 2 dims, got {len(x)}-D",
                             argument="input", value=list(x))
        return {"num_channels": feature_count(self, x, 1, self.num_channels, "num_channels", self.affine)}

    def output_shape(self, inputs):
        x = inputs[0]
        c = x[1]
        if type(c) is not int:
            raise SizeDependentError(f"the channel dimension must be a number, got {c}", argument="input",
                                     value=str(c))
        if c % self.num_groups:
            raise ShapeError(f"{c} channels are not divisible by num_groups={self.num_groups}",
                             argument="num_groups", value=self.num_groups)
        # torch: statistics over (N * C / G) * spatial values must have more than one
        require_more_than_one(prod((x[0] * (c // self.num_groups),) + tuple(x[2:])), "group")
        return tuple(x)

    def params(self, inputs):
        return Params(trainable=self.infer(inputs)["num_channels"] * affine_ops(self.affine, self.bias))

    def other_ops(self, inputs, output):
        return prod(output) * (STATS_OPS + affine_ops(self.affine, self.bias))

    def receptive_field(self, inputs, output):
        return GlobalOver(dims=tuple(range(2, len(inputs[0]))))

    def torch_kwargs(self, inputs):
        kw = self.model_dump()
        kw["num_channels"] = self.infer(inputs)["num_channels"]
        return kw


@register
class LocalResponseNorm(Layer):
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels) ** beta (AlexNet); (N, C, *) with >= 3 dims.

    other_ops = size + 5 per element (see the module docstring). Spatially pointwise.
    """

    family: ClassVar[str] = "norm"

    size: PosInt
    alpha: Number = 1e-4
    beta: Number = 0.75
    k: Number = 1.0

    examples: ClassVar[tuple] = (
        Example({"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}, ((2, 8, 6, 6),)),
        Example({"size": 2}, ((1, 3, 5),)),
        Example({"size": 7}, ((1, 3, 2, 2, 2),), note="size larger than the channel count"),
        Rejected({"size": 2}, ((3, 5),), torch_says="3D or higher"),
        Rejected({"size": 0}, ((1, 3, 5),), torch_says="greater than zero"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        if len(x) < 3:
            raise ShapeError(f"expects an input with 3 or more dims, got {len(x)}-D", argument="input", value=list(x))
        return tuple(x)

    def other_ops(self, inputs, output):
        return prod(output) * (self.size + 5)


@register
class FrozenBatchNorm2d(Layer):
    """torchvision.ops.misc.FrozenBatchNorm2d: BatchNorm2d with weight, bias and running statistics
    all fixed buffers (torchvision's detection backbones): no parameters, 4 x C buffers."""

    family: ClassVar[str] = "norm"
    torch_class: ClassVar[str | None] = "torchvision"
    inferred: ClassVar[tuple] = ("num_features",)

    num_features: PosInt | None = None
    eps: Number = 1e-5

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 4, 5),)),
        Example({"eps": 0.0}, ((1, 8, 2, 2),), note="torchvision's detection models pass eps=0"),
        Rejected({"num_features": 4}, ((2, 3, 4, 5),), torch_says="must match the size of tensor"),
    )

    def infer(self, inputs):
        x = inputs[0]
        check_rank(self, x, (4,))
        return {"num_features": concrete_channels(x, 1, "channel", self.num_features, "num_features")}

    def buffers(self, inputs):
        return 4 * self.infer(inputs)["num_features"]  # weight, bias, running_mean, running_var

    def other_ops(self, inputs, output):
        return FOLDED_OPS * prod(output)

    def to_torch(self, inputs):
        from torchvision.ops.misc import FrozenBatchNorm2d as FBN
        # the written num_features where there is one: torch then refuses a mismatch as convshape does
        c = self.num_features if self.num_features is not None else self.infer(inputs)["num_features"]
        return FBN(c, eps=self.eps)


@register
class Normalize(Layer):
    """F.normalize(x, p=2, dim, eps): x divided by its Euclidean norm along `dim`, at least eps
    (SSD300's L2 norm of conv4_3). other_ops: the norm (a square and an add per element, a square
    root and the clamp at eps per vector) and one divide per element: 3 x elements + 2 x vectors
    - vectors (the first add of each vector is its square)."""

    family: ClassVar[str] = "norm"
    torch_class: ClassVar[str | None] = None

    dim: int = 1
    eps: Number = 1e-12

    examples: ClassVar[tuple] = (
        Example({}, ((2, 8, 5, 5),), note="SSD300: over the channels"),
        Example({"dim": -1}, ((3, 7),)),
        Rejected({"dim": 3}, ((2, 3, 4),), torch_says="out of range"),
    )

    def axis(self, x):
        r = max(len(x), 1)
        if not -r <= self.dim < r:
            raise ShapeError(f"dim={self.dim} is out of range for a {len(x)}-D input", argument="dim", value=self.dim)
        return self.dim % r

    def output_shape(self, inputs):
        self.axis(inputs[0])
        return tuple(inputs[0])

    def other_ops(self, inputs, output):
        x = inputs[0]
        n = prod(x)
        vectors = prod(s for d, s in enumerate(x) if d != self.axis(x))
        return 3 * n + vectors  # squares n, adds n - vectors, sqrt + clamp 2 x vectors, divides n

    def receptive_field(self, inputs, output):
        return GlobalOver(dims=(self.axis(inputs[0]),))
