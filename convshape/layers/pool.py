"""Pooling: Max/Avg/LP (1-3d, ceil_mode), adaptive Avg/Max (1-3d). torch.nn semantics and checks.

Operation counts per output element (other_ops; docs/conventions.md):
  MaxPool         window - 1 comparisons
  AvgPool         window - 1 adds + 1 divide = window
  LPPool          window powers + window - 1 adds, then a scale and a p-th root: 2 * window + 1
  AdaptiveAvg     the same as AvgPool over each (variable) window: sum of window lengths
  AdaptiveMax     sum of window lengths - outputs comparisons
  MaxUnpool       0: a zero fill and a scatter move values, they compute nothing (FlopCounterMode: 0)

MaxPool with return_indices: true also yields the argmax indices (int64, the output's shape); they
are read only by a MaxUnpool whose second input names that pool (`index_inputs`).
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, model_validator

from ..dims import ceildiv, floordiv, prod, require_eq, require_ge, total
from ..errors import ShapeError
from .base import (GlobalOver, Int, IntOrTuple, Layer, NonNegInt, NonNegIntOrTuple, POINTWISE, PosInt, Window,
                   check_rank, ntuple, register_ranks)
from .examples import WRONG_RANK, Example, PerAxis, Rejected
from .window import window_output


class _PoolNd(Layer):
    """A sliding-window reduction over the last `ndim` dims of (N, C, *spatial) or (C, *spatial)."""

    family: ClassVar[str] = "pool"
    ndim: ClassVar[int] = 2
    # AvgPool3d and LPPool3d (ATen's avg_pool3d) also require every unpadded input size >= kernel size
    checks_input_size: ClassVar[bool] = False
    # tuple arguments may have 1 entry (broadcast) or ndim entries, as ATen's pooling accepts
    kernel_lengths: ClassVar[tuple] = (1,)

    kernel_size: IntOrTuple
    stride: IntOrTuple | None = None

    def k(self):
        return ntuple(self.kernel_size, self.ndim, "kernel_size")

    def s(self):
        return ntuple(self.stride if self.stride is not None else self.kernel_size, self.ndim, "stride")

    def p(self):
        return ntuple(getattr(self, "padding", 0), self.ndim, "padding")

    def d(self):
        return ntuple(getattr(self, "dilation", 1), self.ndim, "dilation")

    @model_validator(mode="after")
    def _torch_checks(self):
        n = self.ndim
        for name in ("kernel_size", "stride", "padding", "dilation"):
            v = getattr(self, name, None)
            allowed = (self.kernel_lengths if name == "kernel_size" else (1,)) + (n,)
            if isinstance(v, tuple) and len(v) not in allowed:
                raise ValueError(f"{name} must have {' or '.join(map(str, sorted(set(allowed))))} entries, "
                                 f"got {len(v)}")
        for p, k in zip(self.p(), self.k()):
            if p > k // 2:  # ATen: "pad should be at most half of effective kernel size"
                raise ValueError(f"padding={p} should be at most half of kernel_size={k}")
        return self

    def output_shape(self, inputs):
        x = inputs[0]
        check_rank(self, x, (self.ndim + 1, self.ndim + 2))
        spatial = x[-self.ndim:]
        if self.checks_input_size:
            for a, (L, k) in enumerate(zip(spatial, self.k())):
                require_ge(L, k, f"input size {L} on spatial axis {a} is smaller than kernel_size {k} "
                           f"({self.kind} checks the unpadded input)", argument="kernel_size", received=k)
        out = [window_output(L, k, s, p, p, d, ceil_mode=self.ceil_mode, axis=a, what="pooling window")
               for a, (L, k, s, p, d) in enumerate(zip(spatial, self.k(), self.s(), self.p(), self.d()))]
        return tuple(x[:-self.ndim]) + tuple(out)

    def receptive_field(self, inputs, output):
        spans = tuple(d * (k - 1) + 1 for k, d in zip(self.k(), self.d()))
        return Window(kernel=spans, stride=self.s(), padding=self.p())


class _PaddedPoolNd(_PoolNd):
    padding: NonNegIntOrTuple = 0
    ceil_mode: bool = False

    examples: ClassVar[tuple] = (
        Example({"kernel_size": 2}, ((2, 3, PerAxis(8, 6, 4)),)),
        Example({"kernel_size": PerAxis(3, 2, 3), "stride": PerAxis(2, 1, 2), "padding": 1}, ((1, 2, PerAxis(9, 7, 5)),)),
        # ceil mode on 8: ceil((8 - 3)/2) + 1 = 4 windows (floor: 3); the last starts at 6 < 8: kept
        Example({"kernel_size": 3, "stride": 2, "ceil_mode": True}, ((1, 2, PerAxis(9, 8, 9)),)),
        # padding 1 on 4: ceil((4 + 2 - 3)/2) + 1 = 3; the last starts at 4 < 4 + 1 (inside): kept
        Example({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, ((1, 2, PerAxis(4, 4, 4)),)),
        # 2 on 5, stride 2: ceil(3/2) + 1 = 3; the third window starts at 4 < 5: kept (half outside)
        Example({"kernel_size": 2, "ceil_mode": True}, ((2, PerAxis(5, 5, 5)),), note="unbatched"),
        Example({"kernel_size": (3,)}, ((1, 2, PerAxis(7, 7, 7)),), note="a 1-entry tuple is broadcast"),
        Rejected({"kernel_size": 3, "padding": 2}, ((1, 2, PerAxis(9, 9, 9)),), torch_says="half"),
        Rejected({"kernel_size": 5}, ((1, 2, PerAxis(3, 3, 3)),), torch_says="size"),
        Rejected({"kernel_size": 3}, ((PerAxis(9, 9, 9),),), torch_says=WRONG_RANK),
        Rejected({"kernel_size": (3, 3, 3, 3)}, ((1, 2, PerAxis(9, 9, 9)),), torch_says="kernel_size"),
    )


class _MaxPoolNd(_PaddedPoolNd):
    """Max over each window; other_ops = (window - 1) comparisons per output element."""

    dilation: IntOrTuple = 1
    return_indices: bool = False

    examples: ClassVar[tuple] = _PaddedPoolNd.examples + (
        # dilated window spans 2*(3-1)+1 = 5: (11 - 5)/2 + 1 = 4
        Example({"kernel_size": 3, "stride": 2, "dilation": 2}, ((1, 3, PerAxis(11, 11, 11)),)),
        # torch checks padding against the kernel size, not the dilated span: 2 > 3 // 2
        Rejected({"kernel_size": 3, "dilation": 2, "padding": 2}, ((1, 2, PerAxis(9, 9, 9)),), torch_says="half"),
        # the indices (int64, the output's shape) come beside the output; same figures otherwise
        Example({"kernel_size": 2, "return_indices": True}, ((1, 3, PerAxis(8, 6, 4)),)),
        Example({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True},
                ((2, PerAxis(7, 7, 7)),), note="unbatched"),
    )

    def has_indices(self) -> bool:
        return self.return_indices

    def other_ops(self, inputs, output):
        return prod(output) * (prod(self.k()) - 1)


class _AvgPoolNd(_PaddedPoolNd):
    """Mean over each window; other_ops = window adds-and-divide per output element."""

    count_include_pad: bool = True

    examples: ClassVar[tuple] = _PaddedPoolNd.examples + (
        Example({"kernel_size": 3, "padding": 1, "count_include_pad": False}, ((1, 2, PerAxis(6, 6, 6)),)),
    )

    def other_ops(self, inputs, output):
        return prod(output) * prod(self.k())


class _AvgPool23(_AvgPoolNd):
    """Mean over each window (divisor_override replaces the window size); other_ops = window per output."""
    divisor_override: PosInt | None = None

    examples: ClassVar[tuple] = _AvgPoolNd.examples + (
        Example({"kernel_size": 2, "divisor_override": 3}, ((1, 2, PerAxis(6, 6, 6)),)),
    )


class _AvgPool3(_AvgPool23):
    """Mean over each window; avg_pool3d also needs each unpadded input size >= kernel_size."""
    checks_input_size: ClassVar[bool] = True

    examples: ClassVar[tuple] = _AvgPool23.examples + (
        # padded 2 + 1 + 1 = 4 >= 3 would give one window, but avg_pool3d wants the input itself >= 3
        Rejected({"kernel_size": 3, "padding": 1}, ((1, 2, 2, 5, 5),), torch_says="smaller than kernel size"),
    )


MaxPool1d, MaxPool2d, MaxPool3d = register_ranks(_MaxPoolNd, name="MaxPool")


class _MaxUnpoolNd(Layer):
    """Max unpooling: each value goes where its pooling index says, zeros elsewhere (inputs: values, pool).

    The second input names the MaxPool (return_indices: true) whose indices it reads.

    Output size per axis (torch's _unpool_output_size): (L - 1) * stride - 2 * padding + kernel_size,
    or output_size (ndim entries, or ndim + 2 whose first two are ignored), which must lie strictly
    between that default - stride and default + stride. output_size is an argument of torch's forward,
    so a written one builds convshape.torch.modules' MaxUnpoolNd, which passes it on.
    """

    family: ClassVar[str] = "pool"
    ndim: ClassVar[int] = 2
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    index_inputs: ClassVar[tuple] = (1,)
    torch_class: ClassVar[str | None] = None
    torch_module: ClassVar[str] = "convshape.torch.modules"  # imported back from to_torch's module too
    forward_args: ClassVar[tuple] = ("output_size",)         # read from the module call on import

    # torch checks none of these: any int goes, as long as every output size is >= 0
    kernel_size: Int | tuple[Int, ...]
    stride: Int | tuple[Int, ...] | None = None
    padding: Int | tuple[Int, ...] = 0
    output_size: tuple[NonNegInt, ...] | None = None

    examples: ClassVar[tuple] = (
        # (4 - 1)*2 - 0 + 2 = 8
        Example({"kernel_size": 2}, ((1, 3, PerAxis(4, 3, 2)), (1, 3, PerAxis(4, 3, 2)))),
        # (5 - 1)*2 - 2*1 + 3 = 9 on axis 1
        Example({"kernel_size": 3, "stride": 2, "padding": 1}, ((2, 2, PerAxis(5, 4, 3)), (2, 2, PerAxis(5, 4, 3)))),
        # default (3 - 1)*2 + 2 = 6; 7 lies strictly between 6 - 2 and 6 + 2 (an odd input size restored)
        Example({"kernel_size": 2, "output_size": PerAxis(7, 6, 5)}, ((1, 2, PerAxis(3, 3, 3)), (1, 2, PerAxis(3, 3, 3)))),
        Example({"kernel_size": 2, "output_size": PerAxis((1, 2, 7), (7,), (7,))}, ((1, 2, PerAxis(3, 3, 3)),
                (1, 2, PerAxis(3, 3, 3))), note="N and C entries of an output_size are ignored"),
        Example({"kernel_size": 2}, ((3, PerAxis(4, 4, 4)), (3, PerAxis(4, 4, 4))), note="unbatched"),
        # unlike MaxPool, no padding <= kernel_size / 2 check: (3 - 1)*2 - 2*2 + 3 = 3
        Example({"kernel_size": 3, "stride": 2, "padding": 2}, ((1, 2, PerAxis(3, 3, 3)), (1, 2, PerAxis(3, 3, 3)))),
        # what torch does not check: negative padding (-1: (4 - 1)*2 + 2 + 2 = 10)
        Example({"kernel_size": 2, "padding": -1}, ((1, 3, PerAxis(4, 4, 4)), (1, 3, PerAxis(4, 4, 4)))),
        Rejected({"kernel_size": 2, "output_size": PerAxis(8, 6, 6)}, ((1, 2, PerAxis(3, 3, 3)), (1, 2, PerAxis(3, 3, 3))),
                 torch_says="invalid output_size"),
        Rejected({"kernel_size": 2, "output_size": PerAxis((7, 7), (7,), (7,))}, ((1, 2, PerAxis(3, 3, 3)),
                 (1, 2, PerAxis(3, 3, 3))),
                 torch_says="output_size should be a sequence containing"),
        Rejected({"kernel_size": 2}, ((1, 2, PerAxis(3, 3, 3)), (1, 2, PerAxis(2, 2, 2))), torch_says="shape of indices"),
        Rejected({"kernel_size": 2}, ((PerAxis(3, 3, 3),), (PerAxis(3, 3, 3),)), torch_says=WRONG_RANK),
    )

    # max_unpool3d refuses a stride <= 0; the 1-d and 2-d kernels take any stride
    positive_stride: ClassVar[bool] = False

    def k(self):
        return ntuple(self.kernel_size, self.ndim, "kernel_size")

    def s(self):
        return ntuple(self.stride if self.stride is not None else self.kernel_size, self.ndim, "stride")

    def p(self):
        return ntuple(self.padding, self.ndim, "padding")

    @classmethod
    def args_from_forward(cls, values: dict) -> dict:
        """output_size given to torch's forward (often x.size()): its last ndim entries, which are all
        torch reads."""
        size = values.get("output_size")
        return {} if size is None else {"output_size": tuple(int(d) for d in size)[-cls.ndim:]}

    @model_validator(mode="after")
    def _lengths(self):
        for name in ("kernel_size", "stride", "padding"):
            v = getattr(self, name)
            if isinstance(v, tuple) and len(v) not in (1, self.ndim):
                raise ValueError(f"{name} must have 1 or {self.ndim} entries, got {len(v)}")
        if self.positive_stride and any(s <= 0 for s in self.s()):
            raise ValueError(f"strides should be greater than zero, but got stride: {list(self.s())}")
        if self.output_size is not None and len(self.output_size) not in (self.ndim, self.ndim + 2):
            raise ValueError(f"output_size should be a sequence containing {self.ndim} or {self.ndim + 2} "
                             f"elements, but it has a length of '{len(self.output_size)}'")
        return self

    def output_shape(self, inputs):
        x, indices = inputs
        # max_unpool1d runs max_unpool2d on (x.unsqueeze(-1)): 2 or 3 dims, like the 2-d kind's 3 or 4
        check_rank(self, x, (self.ndim + 1, self.ndim + 2))
        if len(indices) != len(x):
            raise ShapeError(f"the indices must have the values' shape {list(x)}, got {list(indices)}",
                             argument="indices", value=list(indices))
        for a, (v, i) in enumerate(zip(x, indices)):
            require_eq(i, v, f"the indices must have the values' shape: dim {a} is {i}, the values' {v}",
                       argument="indices", received=i)
        default = [(L - 1) * s - 2 * p + k for L, k, s, p in zip(x[-self.ndim:], self.k(), self.s(), self.p())]
        if self.output_size is None:
            for a, d in enumerate(default):
                require_ge(d, 0, f"output size {d} on spatial axis {a} is negative (torch: output_size must "
                           f"contain non-negative spatial dimensions)", argument="stride", received=self.stride)
            return tuple(x[:-self.ndim]) + tuple(default)
        want = tuple(self.output_size[-self.ndim:])
        for a, (o, d, s) in enumerate(zip(want, default, self.s())):
            message = f"invalid output_size {want}: dim {a} must be strictly between {d - s} and {d + s}"
            require_ge(o, d - s + 1, message, argument="output_size", received=o)
            require_ge(d + s - 1, o, message, argument="output_size", received=o)
        return tuple(x[:-self.ndim]) + want

    def receptive_field(self, inputs, output):
        # output o takes input i when o lies in i's pooling window [i*s - p, i*s - p + k - 1], as a
        # transposed convolution's: stride 1/s, span (k - 1)/s + 1, offset (k - 1 - p)/s (input units)
        if any(k < 1 or s < 1 for k, s in zip(self.k(), self.s())):
            # stride <= 0 writes every value into the same window: each output may hold any input
            return GlobalOver(dims=tuple(range(len(output) - self.ndim, len(output))))
        kern = tuple(Fraction(k - 1, s) + 1 for k, s in zip(self.k(), self.s()))
        stride = tuple(Fraction(1, s) for s in self.s())
        pad = tuple(Fraction(k - 1 - p, s) for k, s, p in zip(self.k(), self.s(), self.p()))
        return Window(kernel=kern, stride=stride, padding=pad)


class _MaxUnpool12(_MaxUnpoolNd):
    """Max unpooling: each value goes where its pooling index says, zeros elsewhere (inputs: values, pool)."""
    examples: ClassVar[tuple] = _MaxUnpoolNd.examples + (
        # stride 0 (the 1-d and 2-d kernels take it): (4 - 1)*0 + 2 = 2, every value into one window
        Example({"kernel_size": 2, "stride": 0}, ((1, 3, PerAxis(4, 4, 4)), (1, 3, PerAxis(4, 4, 4)))),
        # stride -1: (4 - 1)*(-1) + 2 = -1 < 0
        Rejected({"kernel_size": 2, "stride": -1}, ((1, 3, PerAxis(4, 4, 4)), (1, 3, PerAxis(4, 4, 4))),
                 torch_says="non-negative"),
    )


class _MaxUnpool3(_MaxUnpoolNd):
    """Max unpooling: each value goes where its pooling index says, zeros elsewhere; strides must be > 0."""
    positive_stride: ClassVar[bool] = True
    examples: ClassVar[tuple] = _MaxUnpoolNd.examples + (
        Rejected({"kernel_size": 2, "stride": (1, 0, 1)}, ((1, 3, 4, 4, 4), (1, 3, 4, 4, 4)),
                 torch_says="strides should be greater than zero"),
        Rejected({"kernel_size": 0}, ((1, 3, 4, 4, 4), (1, 3, 4, 4, 4)), torch_says="strides should be greater than zero",
                 note="the stride defaults to kernel_size"),
    )


MaxUnpool1d, MaxUnpool2d = register_ranks(_MaxUnpool12, ranks=(1, 2), name="MaxUnpool")
(MaxUnpool3d,) = register_ranks(_MaxUnpool3, ranks=(3,), name="MaxUnpool")
(AvgPool1d,) = register_ranks(_AvgPoolNd, ranks=(1,), name="AvgPool")
(AvgPool2d,) = register_ranks(_AvgPool23, ranks=(2,), name="AvgPool")
(AvgPool3d,) = register_ranks(_AvgPool3, ranks=(3,), name="AvgPool")


NormType = Annotated[float, Field(allow_inf_nan=True)]


class _LPPoolNd(_PoolNd):
    """Power-average pooling (sum over the window of x^p)^(1/p), no padding; torch computes it as
    avg_pool(x^p) * window, so shapes and validity are AvgPool's with padding 0.

    other_ops = 2 * window + 1 per output element (window powers, window - 1 adds, scale, root).
    """

    kernel_lengths: ClassVar[tuple] = ()  # lp_pool unpacks kernel_size into exactly ndim values
    model_config = ConfigDict(ser_json_inf_nan="constants")  # torch accepts norm_type=inf; JSON keeps it

    norm_type: NormType
    kernel_size: IntOrTuple
    stride: IntOrTuple | None = None
    ceil_mode: bool = False

    examples: ClassVar[tuple] = (
        Example({"norm_type": 2, "kernel_size": 3}, ((1, 2, PerAxis(9, 8, 7)),)),
        Example({"norm_type": 1.5, "kernel_size": 3, "stride": 2, "ceil_mode": True}, ((1, 2, PerAxis(8, 8, 8)),)),
        Example({"norm_type": -1, "kernel_size": 2, "stride": 1}, ((2, PerAxis(5, 4, 3)),), note="unbatched"),
        Rejected({"norm_type": 0, "kernel_size": 3}, ((1, 2, PerAxis(9, 9, 9)),), torch_says="non-zero"),
        Rejected({"norm_type": 2, "kernel_size": 5}, ((1, 2, PerAxis(3, 3, 3)),), torch_says="small"),
    )

    @model_validator(mode="after")
    def _nonzero(self):
        if self.norm_type == 0:
            raise ValueError("norm_type must be a non-zero value (torch takes its 1/p-th root)")
        return self

    def other_ops(self, inputs, output):
        return prod(output) * (2 * prod(self.k()) + 1)


class _LPPool1(_LPPoolNd):
    """Power-average pooling (sum of x^p over the window)^(1/p); kernel_size is an int (torch)."""
    kernel_size: PosInt  # lp_pool1d multiplies by kernel_size itself, so a tuple fails in torch

    examples: ClassVar[tuple] = _LPPoolNd.examples + (
        Rejected({"norm_type": 2, "kernel_size": (3,)}, ((1, 2, 9),), torch_says="must be Tensor, not tuple"),
    )


class _LPPool2(_LPPoolNd):
    """Power-average pooling (sum of x^p over the window)^(1/p); no padding, as AvgPool with padding 0."""
    examples: ClassVar[tuple] = _LPPoolNd.examples + (
        Example({"norm_type": 2, "kernel_size": (3, 2), "stride": (2,)}, ((1, 2, 9, 8),)),
        Rejected({"norm_type": 2, "kernel_size": (3,)}, ((1, 2, 9, 9),), torch_says="not enough values to unpack"),
        # ceil mode keeps one window on 3 < 5 in 1-d and 2-d
        Example({"norm_type": 2, "kernel_size": 5, "ceil_mode": True}, ((1, 2, 3, 3),)),
    )


class _LPPool3(_LPPoolNd):
    """Power-average pooling (sum of x^p over the window)^(1/p); each input size must be >= kernel_size."""
    checks_input_size: ClassVar[bool] = True

    examples: ClassVar[tuple] = _LPPoolNd.examples + (
        Rejected({"norm_type": 2, "kernel_size": 5, "ceil_mode": True}, ((1, 2, 3, 3, 3),),
                 torch_says="smaller than kernel size", note="avg_pool3d checks the input itself"),
    )


(LPPool1d,) = register_ranks(_LPPool1, ranks=(1,), name="LPPool")
(LPPool2d,) = register_ranks(_LPPool2, ranks=(2,), name="LPPool")
(LPPool3d,) = register_ranks(_LPPool3, ranks=(3,), name="LPPool")


def adaptive_windows(length, out):
    """Input elements read by O adaptive windows over L, summed: L + O - gcd(L, O).

    torch's window i is [floor(iL/O), ceil((i+1)L/O)). Writing each ceil as floor + [O does not
    divide (i+1)L], the floors telescope to L, and O - gcd(L, O) of the i in 1..O leave a remainder.
    For a concrete O and a symbolic L the O window lengths are summed as floor/ceiling terms.
    """
    if type(out) is int:
        if out == 0:
            return 0
        if type(length) is int:
            return length + out - math.gcd(length, out)
        return total(ceildiv((i + 1) * length, out) - floordiv(i * length, out) for i in range(out))
    return length + out - int_gcd(length, out)


_GCD = []


def int_gcd(a, b):
    """gcd of integer dims as a sympy function `gcd_int(a, b)` that evaluates once both are numbers
    (sympy's own gcd treats symbols as polynomials and would answer 1)."""
    if not _GCD:
        import sympy

        class gcd_int(sympy.Function):
            is_integer = True
            is_nonnegative = True

            @classmethod
            def eval(cls, x, y):
                if x.is_Integer and y.is_Integer:
                    return sympy.Integer(math.gcd(int(x), int(y)))
                return None

        _GCD.append(gcd_int)
    return _GCD[0](a, b)


class _AdaptivePoolNd(Layer):
    """Adaptive pooling to a fixed output size; None in an output_size tuple keeps that input size.

    torch takes an int or a tuple of exactly ndim entries (AdaptiveX1d: an int or a 1-tuple; None
    only inside a 2-d/3-d tuple); an output size of 0 gives an empty tensor, as in torch.
    """

    family: ClassVar[str] = "pool"
    ndim: ClassVar[int] = 2

    output_size: NonNegInt | tuple[NonNegInt | None, ...]

    examples: ClassVar[tuple] = (
        Example({"output_size": 1}, ((2, 3, PerAxis(7, 6, 5)),)),
        Example({"output_size": PerAxis(3, 2, 4)}, ((1, 2, PerAxis(9, 8, 4)),)),
        # non-divisible: windows [0,3) [2,5) [4,7) on 7 -> 3 outputs of 3 reads each
        Example({"output_size": 3}, ((1, 2, PerAxis(7, 7, 7)),)),
        Example({"output_size": 5}, ((2, PerAxis(3, 3, 3)),), note="unbatched, output larger than input"),
        Example({"output_size": 0}, ((1, 2, PerAxis(4, 4, 4)),), note="torch returns an empty tensor"),
        Rejected({"output_size": 2}, ((PerAxis(6, 6, 6),),), torch_says=WRONG_RANK),
    )

    @model_validator(mode="after")
    def _check_len(self):
        if isinstance(self.output_size, tuple):
            if len(self.output_size) != self.ndim:
                raise ValueError(f"output_size must be an int or have {self.ndim} entries, got {len(self.output_size)}")
            if self.ndim == 1 and self.output_size[0] is None:
                raise ValueError("output_size of a 1-d adaptive pool must be an int")
        return self

    def sizes(self, x):
        target = ntuple(self.output_size, self.ndim, "output_size")
        return tuple(L if o is None else o for L, o in zip(x[-self.ndim:], target))

    # AdaptiveAvgPool2d/3d: when every output size is 1, ATen takes the mean over the last ndim dims
    # instead, which works on any leading dims (a tuple output_size still needs ndim + 1 dims)
    mean_fast_path: ClassVar[bool] = False

    def output_shape(self, inputs):
        x = inputs[0]
        if self.mean_fast_path and len(x) >= self.ndim and all(type(o) is int and o == 1 for o in self.sizes(x)):
            least = self.ndim + isinstance(self.output_size, tuple)  # F.adaptive_avg_pool: len(tuple) + 1
            if len(x) < least:
                raise ShapeError(f"expects an input with at least {least} dims, got {len(x)}-D",
                                 argument="input", value=list(x))
        else:
            check_rank(self, x, (self.ndim + 1, self.ndim + 2))
        return tuple(x[:-self.ndim]) + self.sizes(x)

    def reads(self, inputs):
        """Input elements read over all windows (each input is read once when O divides L)."""
        x = inputs[0]
        # an axis kept at its input size (None) reads each element once, even when symbolic
        per_axis = [L if o is L else adaptive_windows(L, o) for L, o in zip(x[-self.ndim:], self.sizes(x))]
        return prod(x[:-self.ndim]) * prod(per_axis)

    def receptive_field(self, inputs, output):
        x = inputs[0]
        spatial = x[-self.ndim:]
        sizes = self.sizes(x)
        rank = len(x)
        whole = tuple(rank - self.ndim + i for i, o in enumerate(sizes) if type(o) is int and o <= 1)
        if len(whole) == self.ndim:
            return GlobalOver(dims=whole)
        if all(L is o for L, o in zip(spatial, sizes)) or all(
                type(L) is int and type(o) is int and L == o for L, o in zip(spatial, sizes)):
            return POINTWISE
        if whole:
            return GlobalOver(dims=whole)
        kern = tuple(max_window(L, o) for L, o in zip(spatial, sizes))
        stride = tuple(Fraction(L, o) if type(L) is int and type(o) is int else 1 for L, o in zip(spatial, sizes))
        return Window(kernel=kern, stride=stride, padding=(0,) * self.ndim)


def max_window(L, o):
    """The longest adaptive window (reported receptive field is an upper bound); 1 when symbolic."""
    if type(L) is not int or type(o) is not int:
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
            raise ValueError("return_indices=True: the indices of adaptive max pooling are not modelled "
                             "(MaxPool's are)")
        return self

    def other_ops(self, inputs, output):
        return self.reads(inputs) - prod(output)  # window - 1 comparisons per output


# torch's adaptive_*pool1d takes an int or a 1-tuple (never None); 2-d/3-d take an int or an
# ndim-tuple whose None entries keep that input size.
_ADAPTIVE_1D = (
    Example({"output_size": (4,)}, ((1, 2, 6),)),
    Rejected({"output_size": None}, ((1, 2, 6),), torch_says="NoneType"),
)
_ADAPTIVE_23 = (
    Example({"output_size": PerAxis(None, 3, None)}, ((1, 2, PerAxis(5, 9, 4)),)),
    Rejected({"output_size": (2,)}, ((1, 2, PerAxis(6, 6, 6)),), torch_says="output_size"),
)


class _AdaptiveAvgPool1(_AdaptiveAvgPoolNd):
    """Average over torch's adaptive windows to `output_size` (an int or a 1-tuple)."""

    examples: ClassVar[tuple] = _AdaptivePoolNd.examples + _ADAPTIVE_1D + (
        Rejected({"output_size": 1}, ((6, 8, 3, 8),), torch_says="Expected 2 to 3 dimensions", note="no mean path in 1-d"),
    )


class _AdaptiveAvgPool23(_AdaptiveAvgPoolNd):
    """Average over torch's adaptive windows to `output_size` (an int or an ndim-tuple; None keeps a size)."""

    mean_fast_path: ClassVar[bool] = True
    examples: ClassVar[tuple] = _AdaptivePoolNd.examples + _ADAPTIVE_23 + (
        Example({"output_size": 1}, ((6, 8, 3, PerAxis(8, 2, 2)),), note="mean over the last dims: any leading dims"),
        Example({"output_size": 1}, ((PerAxis(8, 2, 2),),), note="even none"),
        Example({"output_size": PerAxis(1, 1, 1)}, ((5, 3, PerAxis(8, 2, 2)),)),
        Rejected({"output_size": PerAxis(1, 1, 1)}, ((PerAxis(8, 2, 2),),), torch_says="Input dimension should be at least"),
        Rejected({"output_size": 2}, ((6, 8, 3, PerAxis(8, 2, 2)),), torch_says=WRONG_RANK),
    )


class _AdaptiveMaxPool1(_AdaptiveMaxPoolNd):
    """Max over torch's adaptive windows to `output_size` (an int or a 1-tuple)."""
    examples: ClassVar[tuple] = _AdaptivePoolNd.examples + _ADAPTIVE_1D


class _AdaptiveMaxPool23(_AdaptiveMaxPoolNd):
    """Max over torch's adaptive windows to `output_size` (an int or an ndim-tuple; None keeps a size)."""
    examples: ClassVar[tuple] = _AdaptivePoolNd.examples + _ADAPTIVE_23


(AdaptiveAvgPool1d,) = register_ranks(_AdaptiveAvgPool1, ranks=(1,), name="AdaptiveAvgPool")
AdaptiveAvgPool2d, AdaptiveAvgPool3d = register_ranks(_AdaptiveAvgPool23, ranks=(2, 3), name="AdaptiveAvgPool")
(AdaptiveMaxPool1d,) = register_ranks(_AdaptiveMaxPool1, ranks=(1,), name="AdaptiveMaxPool")
AdaptiveMaxPool2d, AdaptiveMaxPool3d = register_ranks(_AdaptiveMaxPool23, ranks=(2, 3), name="AdaptiveMaxPool")
