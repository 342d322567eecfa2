"""Pooling: Max/Avg (1-3d, ceil_mode), adaptive Avg/Max (1-3d). torch.nn semantics and checks."""
from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from pydantic import model_validator

from ..dims import ceildiv, floordiv, prod, total
from ..errors import ShapeError
from .base import (GlobalOver, IntOrTuple, Layer, NonNegIntOrTuple, POINTWISE, PosInt, Window,
                   check_rank, ntuple, register_ranks)
from .window import window_output


class _PoolNd(Layer):
    family: ClassVar[str] = "pool"
    ndim: ClassVar[int] = 2
    has_dilation: ClassVar[bool] = False

    kernel_size: IntOrTuple
    stride: IntOrTuple | None = None
    padding: NonNegIntOrTuple = 0
    ceil_mode: bool = False

    def k(self):
        return ntuple(self.kernel_size, self.ndim, "kernel_size")

    def s(self):
        return ntuple(self.stride if self.stride is not None else self.kernel_size, self.ndim, "stride")

    def p(self):
        return ntuple(self.padding, self.ndim, "padding")

    def d(self):
        return ntuple(getattr(self, "dilation", 1), self.ndim, "dilation")

    @model_validator(mode="after")
    def _torch_checks(self):
        for name in ("kernel_size", "stride", "padding", "dilation"):
            v = getattr(self, name, None)
            if isinstance(v, tuple) and len(v) not in (1, self.ndim):
                raise ValueError(f"{name} must have {self.ndim} entries, got {len(v)}")
        for p, k in zip(self.p(), self.k()):
            if p > k // 2:  # ATen: "pad should be at most half of effective kernel size"
                raise ValueError(f"padding={p} should be at most half of kernel_size={k}")
        return self

    def output_shape(self, inputs):
        x = inputs[0]
        check_rank(self, x, (self.ndim + 1, self.ndim + 2))
        out = [window_output(L, k, s, p, p, d, ceil_mode=self.ceil_mode, axis=a, what="pooling window")
               for a, (L, k, s, p, d) in enumerate(zip(x[-self.ndim:], self.k(), self.s(), self.p(), self.d()))]
        return tuple(x[:-self.ndim]) + tuple(out)

    def receptive_field(self, inputs, output):
        spans = tuple(d * (k - 1) + 1 for k, d in zip(self.k(), self.d()))
        return Window(kernel=spans, stride=self.s(), padding=self.p())


class _MaxPoolNd(_PoolNd):
    """Max over each window; other_ops = (window - 1) comparisons per output element."""

    has_dilation: ClassVar[bool] = True
    dilation: IntOrTuple = 1
    return_indices: bool = False

    @model_validator(mode="after")
    def _no_indices(self):
        if self.return_indices:
            raise ValueError("return_indices=True returns a tuple, which a network spec cannot carry")
        return self

    def other_ops(self, inputs, output):
        return prod(output) * (prod(self.k()) - 1)


class _AvgPoolNd(_PoolNd):
    """Mean over each window; other_ops = window adds-and-divide per output element."""

    count_include_pad: bool = True

    def other_ops(self, inputs, output):
        return prod(output) * prod(self.k())


class _AvgPool23(_AvgPoolNd):
    divisor_override: PosInt | None = None


MaxPool1d, MaxPool2d, MaxPool3d = register_ranks(_MaxPoolNd, name="MaxPool")
(AvgPool1d,) = register_ranks(_AvgPoolNd, ranks=(1,), name="AvgPool")
AvgPool2d, AvgPool3d = register_ranks(_AvgPool23, ranks=(2, 3), name="AvgPool")


def adaptive_windows(length, out: int):
    """Sum over output positions of the window length (torch: start=floor(iL/O), end=ceil((i+1)L/O))."""
    return total(ceildiv((i + 1) * length, out) - floordiv(i * length, out) for i in range(out))


class _AdaptivePoolNd(Layer):
    """Adaptive pooling to a fixed output size; None in output_size keeps that input size."""

    family: ClassVar[str] = "pool"
    ndim: ClassVar[int] = 2

    output_size: PosInt | None | tuple[PosInt | None, ...]

    @model_validator(mode="after")
    def _check_len(self):
        if isinstance(self.output_size, tuple) and len(self.output_size) not in (1, self.ndim):
            raise ValueError(f"output_size must have {self.ndim} entries, got {len(self.output_size)}")
        return self

    def sizes(self, x):
        target = ntuple(self.output_size, self.ndim, "output_size")
        return tuple(L if o is None else o for L, o in zip(x[-self.ndim:], target))

    def output_shape(self, inputs):
        x = inputs[0]
        check_rank(self, x, (self.ndim + 1, self.ndim + 2))
        return tuple(x[:-self.ndim]) + self.sizes(x)

    def reads(self, inputs):
        """Input elements read over all windows (each input is read once when O divides L)."""
        x = inputs[0]
        per_axis = [adaptive_windows(L, o) for L, o in zip(x[-self.ndim:], self.sizes(x))]
        return prod(x[:-self.ndim]) * prod(per_axis)

    def receptive_field(self, inputs, output):
        x = inputs[0]
        dims, kern, stride = [], [], []
        rank = len(x)
        for i, (L, o) in enumerate(zip(x[-self.ndim:], self.sizes(x))):
            if type(o) is int and o == 1:
                dims.append(rank - self.ndim + i)
            kern.append(L if o == 1 else (L // o if type(L) is int and L % o == 0 else _max_window(L, o)))
            stride.append(Fraction(L, o) if type(L) is int else 1)
        if dims and len(dims) == self.ndim:
            return GlobalOver(dims=tuple(dims))
        if all(type(L) is int and L == o for L, o in zip(x[-self.ndim:], self.sizes(x))):
            return POINTWISE
        if dims:
            return GlobalOver(dims=tuple(dims))
        return Window(kernel=tuple(kern), stride=tuple(stride), padding=(0,) * self.ndim)


def _max_window(L, o):
    if type(L) is not int:
        return 1
    return max(-(-(i + 1) * L // o) - (i * L // o) for i in range(o))


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    def other_ops(self, inputs, output):
        return self.reads(inputs)  # (reads - outputs) adds + one divide per output


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    return_indices: bool = False

    @model_validator(mode="after")
    def _no_indices(self):
        if self.return_indices:
            raise ValueError("return_indices=True returns a tuple, which a network spec cannot carry")
        return self

    def other_ops(self, inputs, output):
        return self.reads(inputs) - prod(output)  # window - 1 comparisons per output


AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d = register_ranks(_AdaptiveAvgPoolNd, name="AdaptiveAvgPool")
AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d = register_ranks(_AdaptiveMaxPoolNd, name="AdaptiveMaxPool")
