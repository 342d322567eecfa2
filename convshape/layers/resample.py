"""Resampling: Upsample (torch.nn.Upsample / F.interpolate), PixelShuffle, PixelUnshuffle, ChannelShuffle.

Upsample output size per spatial axis is `size`, or floor(L * scale_factor): torch computes it in
double precision (int(double(L) * scale)), and so does convshape for concrete sizes, so for example
100 * 0.57 = 56.99999999999999 gives 56 as in torch. For a symbolic L the scale is taken at its
shortest decimal value (0.57 = 57/100), which can differ from torch by one at the rare sizes where
the double product falls just below an integer.

Operation counts (other_ops) per output element:
  nearest, nearest-exact     0 (a gather)
  linear / bilinear /        a weighted sum of the 2, 4 or 8 neighbouring taps: taps multiplies
    trilinear / bicubic        and taps - 1 adds = 2 * taps - 1 (3, 7, 15; bicubic 16 taps: 31);
                               the interpolation weights depend only on the position along each
                               axis and are not counted
  area                       adaptive average pooling: the window reads (AdaptiveAvgPool's count)
PixelShuffle, PixelUnshuffle and ChannelShuffle are re-arrangements: 0.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from ..dims import floordiv, prod, require_ge
from ..errors import ShapeError
from .base import POINTWISE, Layer, PosInt, Window, register
from .examples import Example, Rejected
from .pool import max_window, adaptive_windows
from .shape import exact_quotient

Scale = Annotated[float, Field(gt=0, allow_inf_nan=False)]

# spatial rank each interpolation mode works on; nearest, nearest-exact and area take any of 1-3
MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
TAPS_PER_AXIS = {"linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}
INTERPOLATING = tuple(TAPS_PER_AXIS)


def decimal_fraction(x: float) -> Fraction:
    """The scale as the user wrote it: 0.57 -> 57/100 (not the binary double's exact value)."""
    return Fraction(repr(float(x)))


def ratio(a, b):
    """a / b: a Fraction for ints, a sympy expression when symbolic."""
    if type(a) is int and type(b) is int:
        return Fraction(a, b)
    return a / b


@register
class Upsample(Layer):
    """Resizes the 1-3 spatial dims of (N, C, *spatial) to `size` or floor(size * scale_factor).

    Exactly one of size and scale_factor. torch checks the mode against the rank: linear needs a
    3-D input, bilinear and bicubic 4-D, trilinear 5-D; align_corners only with those four modes.
    """

    family: ClassVar[str] = "resample"

    size: PosInt | tuple[PosInt, ...] | None = None
    scale_factor: Scale | tuple[Scale, ...] | None = None
    mode: Literal["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area"] = "nearest"
    align_corners: bool | None = None
    recompute_scale_factor: bool | None = None

    examples: ClassVar[tuple] = (
        Example({"scale_factor": 2}, ((1, 3, 7, 7),)),
        Example({"scale_factor": 2, "mode": "bilinear"}, ((1, 3, 7, 7),)),
        Example({"scale_factor": 1.5, "mode": "linear", "align_corners": True}, ((2, 3, 5),)),
        Example({"scale_factor": (2, 0.5, 3), "mode": "trilinear"}, ((1, 2, 3, 4, 5),)),
        Example({"size": (5, 9), "mode": "bicubic", "align_corners": True}, ((1, 2, 4, 4),)),
        Example({"size": 6, "mode": "nearest-exact"}, ((1, 2, 4, 5, 3),)),
        Example({"scale_factor": 0.5, "mode": "nearest-exact", "recompute_scale_factor": True}, ((1, 2, 5, 7),)),
        Example({"scale_factor": 1.5, "mode": "area"}, ((1, 2, 5),)),
        Example({"scale_factor": 0.1, "mode": "area"}, ((1, 2, 5, 5),), note="area is adaptive pooling: empty is fine"),
        Example({"size": 3, "mode": "area"}, ((1, 2, 5, 7),)),
        # 7 * 1.1 = 7.7 -> 7 and 10 * 1.1 = 11.000000000000002 -> 11
        Example({"scale_factor": 1.1, "mode": "bilinear"}, ((1, 2, 7, 10),)),
        Example({"size": 4, "mode": "bilinear", "recompute_scale_factor": False}, ((1, 2, 5, 7),)),
        Rejected({"scale_factor": 2, "mode": "bilinear"}, ((1, 2, 5),), torch_says="bilinear mode needs 4D input"),
        Rejected({"scale_factor": 2, "mode": "linear"}, ((1, 2, 5, 5),), torch_says="linear mode needs 3D input"),
        Rejected({"scale_factor": 2, "mode": "bicubic"}, ((1, 2, 5),), torch_says="Only 3D, 4D and 5D input"),
        Rejected({"scale_factor": 2}, ((2, 5),), torch_says="Only 3D, 4D and 5D input"),
        Rejected({"scale_factor": 0.1}, ((1, 2, 5, 7),), torch_says="sizes should be greater than 0"),
        Rejected({"size": (3, 4, 5)}, ((1, 2, 5, 7),), torch_says="same number of spatial dimensions"),
        Rejected({"scale_factor": (2,)}, ((1, 2, 5, 7),), torch_says="same number of spatial dimensions"),
        Rejected({"size": 3, "scale_factor": 2}, ((1, 2, 5, 7),), torch_says="only one of size or scale_factor"),
        Rejected({}, ((1, 2, 5, 7),), torch_says="either size or scale_factor"),
        Rejected({"scale_factor": 2, "align_corners": False}, ((1, 2, 5, 7),), torch_says="align_corners option"),
        Rejected({"size": 4, "mode": "bilinear", "recompute_scale_factor": True}, ((1, 2, 5, 7),),
                 torch_says="recompute_scale_factor is not meaningful"),
    )

    @model_validator(mode="after")
    def _torch_checks(self):
        if self.size is not None and self.scale_factor is not None:
            raise ValueError("only one of size or scale_factor should be defined")
        if self.size is None and self.scale_factor is None:
            raise ValueError("either size or scale_factor should be defined")
        if self.align_corners is not None and self.mode not in INTERPOLATING:
            raise ValueError(f"align_corners can only be set with the interpolating modes "
                             f"{' | '.join(INTERPOLATING)}, not {self.mode!r}")
        if self.recompute_scale_factor and self.size is not None:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size")
        return self

    def _per_axis(self, value, n: int, name: str) -> tuple:
        if isinstance(value, tuple):
            if len(value) != n:
                raise ShapeError(f"{name} has {len(value)} entries but the input has {n} spatial dims",
                                 argument=name, value=list(value))
            return value
        return (value,) * n

    def spatial_rank(self, x) -> int:
        if len(x) not in (3, 4, 5):
            raise ShapeError(f"expects a 3-D, 4-D or 5-D (N, C, *spatial) input, got {len(x)}-D",
                             argument="input", value=list(x))
        n = len(x) - 2
        want = MODE_RANK.get(self.mode)
        if want is not None and want != n:
            raise ShapeError(f"mode={self.mode!r} needs a {want + 2}-D input, got {len(x)}-D",
                             argument="mode", value=self.mode)
        return n

    def output_shape(self, inputs):
        x = inputs[0]
        n = self.spatial_rank(x)
        out = []
        if self.size is not None:
            out = list(self._per_axis(self.size, n, "size"))
        else:
            for axis, (L, s) in enumerate(zip(x[2:], self._per_axis(self.scale_factor, n, "scale_factor"))):
                if type(L) is int:
                    size = int(L * s)  # torch: int(double(L) * scale)
                else:
                    f = decimal_fraction(s)
                    size = floordiv(L * f.numerator, f.denominator)
                # area mode is adaptive average pooling, which returns an empty tensor for size 0
                if self.mode != "area":
                    require_ge(size, 1, lambda axis=axis, L=L, s=s, size=size: f"scale_factor {s} on spatial axis "
                               f"{axis} of size {L} gives output size {size}", argument="scale_factor", received=s)
                out.append(size)
        return tuple(x[:2]) + tuple(out)

    def other_ops(self, inputs, output):
        if self.mode == "area":
            x = inputs[0]
            return prod(x[:2]) * prod(adaptive_windows(L, o) for L, o in zip(x[2:], output[2:]))
        taps = TAPS_PER_AXIS.get(self.mode)
        if taps is None:
            return 0
        return prod(output) * (2 * taps ** (len(output) - 2) - 1)

    def coordinate_step(self, L, out, axis: int, n: int):
        """Input units per output step along one axis, as ATen maps output to source coordinates."""
        if type(out) is int and out == 0:
            return 1  # an empty output (area mode) reads nothing; any step will do
        if self.mode in INTERPOLATING and self.align_corners:
            return ratio(L - 1, out - 1) if not (type(out) is int and out <= 1) else 0
        if self.scale_factor is not None and not self.recompute_scale_factor and self.mode != "area":
            return 1 / decimal_fraction(self._per_axis(self.scale_factor, n, "scale_factor")[axis])
        return ratio(L, out)

    def receptive_field(self, inputs, output):
        """Output o reads the input around o * step: nearest 1 tap at floor(o * step) (nearest-exact
        at floor((o + 1/2) * step)); interpolation t taps from floor(src) - (t/2 - 1), where src is
        o * step with align_corners, else (o + 1/2) * step - 1/2; area reads the adaptive window."""
        x = inputs[0]
        n = len(x) - 2
        kernel, stride, padding = [], [], []
        for axis, (L, out) in enumerate(zip(x[2:], output[2:])):
            step = self.coordinate_step(L, out, axis, n)
            taps = TAPS_PER_AXIS.get(self.mode, 1)
            if self.mode == "area":
                k, p = max_window(L, out) if type(out) is int and out > 0 else 1, 0
            elif self.mode == "nearest":
                k, p = 1, 0
            elif self.mode == "nearest-exact":
                k, p = 1, -step / 2
            elif self.align_corners:
                k, p = taps, Fraction(taps, 2) - 1
            else:
                k, p = taps, (1 - step) / 2 + Fraction(taps, 2) - 1
            kernel.append(k)
            stride.append(step)
            padding.append(p)
        return Window(kernel=tuple(kernel), stride=tuple(stride), padding=tuple(padding))


def _channels_last3(x, kind: str):
    if len(x) < 3:
        raise ShapeError(f"{kind} expects an input with at least 3 dims (*, C, H, W), got {len(x)}-D",
                         argument="input", value=list(x))


@register
class PixelShuffle(Layer):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r) (sub-pixel convolution, Shi et al. 2016).

    Output pixel (h, w) comes from input pixel (h // r, w // r): a 1-tap window with stride 1/r.
    """

    family: ClassVar[str] = "resample"

    upscale_factor: PosInt

    examples: ClassVar[tuple] = (
        Example({"upscale_factor": 2}, ((1, 16, 5, 5),)),
        Example({"upscale_factor": 3}, ((18, 2, 4),), note="unbatched"),
        Example({"upscale_factor": 2}, ((2, 3, 1, 8, 5, 4),), note="any number of leading dims"),
        Rejected({"upscale_factor": 2}, ((1, 6, 5, 5),), torch_says="divisible by the square of upscale_factor"),
        Rejected({"upscale_factor": 2}, ((16, 5),), torch_says="at least 3 dimensions"),
        Rejected({"upscale_factor": 0}, ((1, 4, 5, 5),), torch_says="positive upscale_factor"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        _channels_last3(x, self.kind)
        r = self.upscale_factor
        c, h, w = x[-3:]
        c_out = exact_quotient(c, r * r, lambda: f"channels {c} are not divisible by upscale_factor^2 = {r * r}",
                               "upscale_factor")
        return tuple(x[:-3]) + (c_out, h * r, w * r)

    def receptive_field(self, inputs, output):
        step = Fraction(1, self.upscale_factor)
        return Window(kernel=(1, 1), stride=(step, step), padding=(0, 0))


@register
class PixelUnshuffle(Layer):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), the inverse of PixelShuffle.

    The r^2 output channels at pixel (h, w) hold the r x r input block at (h * r, w * r).
    """

    family: ClassVar[str] = "resample"

    downscale_factor: PosInt

    examples: ClassVar[tuple] = (
        Example({"downscale_factor": 2}, ((1, 4, 10, 6),)),
        Example({"downscale_factor": 3}, ((2, 9, 3),), note="unbatched"),
        Rejected({"downscale_factor": 2}, ((1, 4, 10, 5),), torch_says="width to be divisible by downscale_factor"),
        Rejected({"downscale_factor": 2}, ((1, 4, 5, 10),), torch_says="height to be divisible by downscale_factor"),
        Rejected({"downscale_factor": 2}, ((10, 6),), torch_says="at least 3 dimensions"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        _channels_last3(x, self.kind)
        r = self.downscale_factor
        c, h, w = x[-3:]
        h_out = exact_quotient(h, r, lambda: f"height {h} is not divisible by downscale_factor={r}", "downscale_factor")
        w_out = exact_quotient(w, r, lambda: f"width {w} is not divisible by downscale_factor={r}", "downscale_factor")
        return tuple(x[:-3]) + (c * r * r, h_out, w_out)

    def receptive_field(self, inputs, output):
        r = self.downscale_factor
        return Window(kernel=(r, r), stride=(r, r), padding=(0, 0))


@register
class ChannelShuffle(Layer):
    """Splits the C channels of (N, C, *) into `groups` and interleaves them (ShuffleNet); shape kept."""

    family: ClassVar[str] = "resample"

    groups: PosInt

    examples: ClassVar[tuple] = (
        Example({"groups": 2}, ((1, 4, 10, 6),)),
        Example({"groups": 4}, ((2, 4, 3),)),
        Example({"groups": 3}, ((1, 6, 1, 1, 2, 3),), note="any rank >= 3"),
        Rejected({"groups": 3}, ((1, 4, 10),), torch_says="Number of channels must be divisible by groups"),
        Rejected({"groups": 2}, ((4, 10),), torch_says="expects input with > 2 dims"),
        Rejected({"groups": 0}, ((1, 4, 10),), torch_says="must be positive"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        if len(x) < 3:
            raise ShapeError(f"expects an (N, C, *) input with at least 3 dims, got {len(x)}-D",
                             argument="input", value=list(x))
        exact_quotient(x[1], self.groups, lambda: f"{x[1]} channels are not divisible by groups={self.groups}",
                       "groups")
        return tuple(x)

    def receptive_field(self, inputs, output):
        return POINTWISE
