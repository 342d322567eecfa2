"""Convolution and transposed convolution, 1-D to 3-D (torch.nn.ConvNd / ConvTransposeNd)."""
from __future__ import annotations

from fractions import Fraction
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from ..dims import numel_of, prod, require_ge
from ..errors import ShapeError
from .base import (IntOrTuple, Layer, NonNegIntOrTuple, Params, PosInt, Window, check_rank,
                   concrete_channels, ntuple, register_ranks)
from .examples import WRONG_RANK, Example, PerAxis, Rejected
from .window import transposed_output, window_output


def _check_lengths(layer, broadcastable):
    """torch takes kernel_size as an int or ndim entries (a 1-tuple makes a lower-rank weight that
    conv rejects); the other tuple arguments may also have a single entry, which ATen broadcasts."""
    n = layer.ndim
    if isinstance(layer.kernel_size, tuple) and len(layer.kernel_size) != n:
        raise ValueError(f"kernel_size must be an int or have {n} entries, got {len(layer.kernel_size)}")
    for name in broadcastable:
        v = getattr(layer, name)
        if isinstance(v, tuple) and len(v) not in (1, n):
            raise ValueError(f"{name} must have {n} entries, got {len(v)}")


class _ConvCommon(Layer):
    """What convolution and transposed convolution share: arguments, channel inference, builder."""

    family: ClassVar[str] = "conv"
    ndim: ClassVar[int] = 2
    inferred: ClassVar[tuple] = ("in_channels",)
    has_weight_macs: ClassVar[bool] = True

    out_channels: PosInt
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1

    @model_validator(mode="after")
    def _group_checks(self):
        if self.out_channels % self.groups:
            raise ValueError(f"out_channels={self.out_channels} must be divisible by groups={self.groups}")
        if self.in_channels is not None and self.in_channels % self.groups:
            raise ValueError(f"in_channels={self.in_channels} must be divisible by groups={self.groups}")
        return self

    # ---- argument views
    def k(self):
        return ntuple(self.kernel_size, self.ndim, "kernel_size")

    def s(self):
        return ntuple(self.stride, self.ndim, "stride")

    def d(self):
        return ntuple(self.dilation, self.ndim, "dilation")

    def infer(self, inputs):
        x = inputs[0]
        check_rank(self, x, (self.ndim + 1, self.ndim + 2))
        c = concrete_channels(x, -self.ndim - 1, "channel", self.in_channels, "in_channels")
        if c % self.groups:
            raise ShapeError(f"input channels {c} are not divisible by groups={self.groups}",
                             argument="groups", value=self.groups)
        return {"in_channels": c}

    def other_ops(self, inputs, output):
        return numel_of(output) if self.bias else 0  # one add per output element for the bias

    def torch_kwargs(self, inputs):
        kw = self.model_dump()
        kw["in_channels"] = self.infer(inputs)["in_channels"]
        return kw

    def channels_read(self, inputs) -> tuple:
        """The channel dim, which every output reads (a flatten or permute may have put a spatial axis
        there); a depthwise convolution with one output per input channel reads only its own."""
        c = self.infer(inputs)["in_channels"]
        if self.groups == c == self.out_channels:
            return ()
        return (len(inputs[0]) - self.ndim - 1,)


class _ConvNd(_ConvCommon):
    """N-d convolution over a (N, C, *spatial) or unbatched (C, *spatial) input."""

    padding: NonNegIntOrTuple | Literal["same", "valid"] = 0
    dilation: IntOrTuple = 1
    groups: PosInt = 1
    bias: bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    in_channels: PosInt | None = None

    examples: ClassVar[tuple] = (
        Example({"out_channels": 4, "kernel_size": 3}, ((2, 3, PerAxis(8, 7, 6)),)),
        Example({"out_channels": 6, "kernel_size": PerAxis(3, 2, 1), "stride": PerAxis(2, 1, 3),
                 "padding": PerAxis(1, 0, 2), "dilation": 2, "groups": 3, "bias": False}, ((1, 3, PerAxis(9, 8, 10)),)),
        # even kernel, 'same': total padding d(k-1) = 3 split 1 left, 2 right
        Example({"out_channels": 2, "kernel_size": 4, "padding": "same", "dilation": PerAxis(1, 2, 1)},
                ((1, 2, PerAxis(7, 7, 5)),)),
        Example({"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": "valid"}, ((1, 2, PerAxis(8, 9, 7)),)),
        Example({"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "reflect"}, ((1, 2, PerAxis(5, 4, 3)),)),
        Example({"out_channels": 2, "kernel_size": 4, "padding": "same", "padding_mode": "replicate"},
                ((1, 2, PerAxis(3, 2, 3)),)),
        # a 1-entry dilation with 'same' and a non-zeros mode: only the first spatial axis is padded (12 ->
        # 12), the others lose d(k - 1) = 4 (13 -> 9, 11 -> 7); found by the 1,000,000 campaign
        Example({"out_channels": 2, "kernel_size": 3, "padding": "same", "dilation": (2,), "padding_mode": "reflect"},
                ((1, 2, PerAxis(12, 13, 11)),)),
        # circular padding may wrap around once: padding 2 on size 2
        Example({"out_channels": 2, "kernel_size": 5, "padding": 2, "padding_mode": "circular"}, ((1, 2, PerAxis(2, 2, 2)),)),
        Example({"out_channels": 4, "kernel_size": 1, "in_channels": 3}, ((3, PerAxis(5, 4, 3)),), note="unbatched"),
        Example({"out_channels": 2, "kernel_size": 3, "padding": (1,), "stride": (2,)}, ((1, 2, PerAxis(5, 6, 5)),),
                note="1-entry tuples are broadcast"),
        Rejected({"out_channels": 2, "kernel_size": 5, "padding": 2, "padding_mode": "reflect"},
                 ((1, 2, PerAxis(2, 2, 2)),), torch_says="Padding size should be less than"),
        Rejected({"out_channels": 5, "kernel_size": 1, "groups": 2}, ((1, 4, PerAxis(3, 3, 3)),),
                 torch_says="out_channels must be divisible by groups"),
        Rejected({"out_channels": 4, "kernel_size": 1, "groups": 2, "in_channels": 3}, ((1, 3, PerAxis(3, 3, 3)),),
                 torch_says="in_channels must be divisible by groups"),
        Rejected({"out_channels": 4, "kernel_size": 1, "in_channels": 4}, ((1, 3, PerAxis(3, 3, 3)),),
                 torch_says="to have 4 channels"),
        Rejected({"out_channels": 2, "kernel_size": 3, "padding": "same", "stride": 2}, ((1, 2, PerAxis(8, 8, 8)),),
                 torch_says="not supported for strided convolutions"),
        Rejected({"out_channels": 2, "kernel_size": 5}, ((1, 2, PerAxis(4, 4, 4)),), torch_says="Kernel size can't be greater"),
        Rejected({"out_channels": 2, "kernel_size": 3, "dilation": 2}, ((1, 2, PerAxis(4, 9, 9)),),
                 torch_says="Kernel size can't be greater"),
        Rejected({"out_channels": 2, "kernel_size": 1, "in_channels": 4}, ((PerAxis(4, 4, 4),),), torch_says=WRONG_RANK),
    )

    @model_validator(mode="after")
    def _torch_checks(self):
        n = self.ndim
        _check_lengths(self, ("stride", "dilation"))
        if isinstance(self.padding, tuple) and len(self.padding) not in (1, n):
            raise ValueError(f"padding must have {n} entries, got {len(self.padding)}")
        if self.padding == "same" and any(s != 1 for s in ntuple(self.stride, n, "stride")):
            raise ValueError("padding='same' is not supported for strided convolutions (torch)")
        return self

    def pads(self):
        """(left, right) padding per spatial axis; 'same' is asymmetric for even spans, like torch."""
        if self.padding == "valid":
            return [(0, 0)] * self.ndim
        if self.padding == "same":
            out = []
            for k, d in zip(self.k(), self.d()):
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            if self.same_pads_first_axis_only():
                return out[:1] + [(0, 0)] * (self.ndim - 1)
            return out
        if self.last_axis_padding_only():
            return [(0, 0)] * (self.ndim - 1) + [(self.padding[0],) * 2]
        return [(p, p) for p in ntuple(self.padding, self.ndim, "padding")]

    def same_pads_first_axis_only(self) -> bool:
        """torch quirk: with padding='same' and a non-zeros padding_mode, nn.Conv computes the F.pad
        amounts by zipping dilation with kernel_size, so a 1-entry dilation tuple pads only the first
        spatial axis (the convolution itself still broadcasts that dilation to every axis)."""
        return (self.padding == "same" and self.padding_mode != "zeros" and isinstance(self.dilation, tuple)
                and len(self.dilation) == 1 and self.ndim > 1)

    def last_axis_padding_only(self) -> bool:
        """torch quirk: a non-zeros padding_mode pads with F.pad(padding repeated twice), so a 1-entry
        padding tuple pads only the last axis (and F.pad then needs a 2-D or 3-D input)."""
        return (self.padding_mode != "zeros" and isinstance(self.padding, tuple) and len(self.padding) == 1
                and self.ndim > 1)

    # ---- rules
    def output_shape(self, inputs):
        x = inputs[0]
        spatial = x[-self.ndim:]
        if self.last_axis_padding_only() and len(x) not in (2, 3):
            raise ShapeError(f"padding={list(self.padding)} with padding_mode={self.padding_mode!r} pads only the last "
                             f"axis through F.pad, which needs a 2-D or 3-D input", argument="padding",
                             value=list(self.padding))
        out = []
        for axis, (L, k, s, d, (pl, pr)) in enumerate(zip(spatial, self.k(), self.s(), self.d(), self.pads())):
            if self.padding_mode == "reflect" and max(pl, pr) > 0:
                require_ge(L, max(pl, pr) + 1, f"reflect padding {max(pl, pr)} must be smaller than the input size "
                           f"on spatial axis {axis}", argument="padding", received=max(pl, pr))
            if self.padding_mode == "circular" and max(pl, pr) > 0:
                require_ge(L, max(pl, pr), f"circular padding {max(pl, pr)} wraps around more than once on "
                           f"spatial axis {axis}", argument="padding", received=max(pl, pr))
            out.append(window_output(L, k, s, pl, pr, d, axis=axis))
        return tuple(x[:-self.ndim - 1]) + (self.out_channels,) + tuple(out)

    def weight_numel(self, inputs):
        c_in = self.infer(inputs)["in_channels"]
        return self.out_channels * (c_in // self.groups) * prod(self.k())

    def params(self, inputs):
        return Params(trainable=self.weight_numel(inputs) + (self.out_channels if self.bias else 0))

    def macs(self, inputs, output):
        c_in = self.infer(inputs)["in_channels"]
        return numel_of(output) * (c_in // self.groups) * prod(self.k())

    def receptive_field(self, inputs, output):
        spans = tuple(d * (k - 1) + 1 for k, d in zip(self.k(), self.d()))
        return Window(kernel=spans, stride=self.s(), padding=tuple(pl for pl, _ in self.pads()),
                      whole=self.channels_read(inputs))


class _ConvTransposeNd(_ConvCommon):
    """N-d transposed convolution ("fractionally strided"); output (L-1)s - 2p + d(k-1) + op + 1."""

    padding: NonNegIntOrTuple = 0
    output_padding: NonNegIntOrTuple = 0
    groups: PosInt = 1
    bias: bool = True
    dilation: IntOrTuple = 1
    padding_mode: Literal["zeros"] = "zeros"
    in_channels: PosInt | None = None

    examples: ClassVar[tuple] = (
        # (5 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 10
        Example({"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
                ((2, 3, PerAxis(5, 4, 3)),)),
        Example({"out_channels": 6, "kernel_size": PerAxis(2, 3, 1), "stride": PerAxis(2, 3, 1), "groups": 3,
                 "dilation": PerAxis(1, 2, 1), "bias": False}, ((1, 3, PerAxis(4, 5, 3)),)),
        # output_padding < dilation also passes torch's check (stride 1)
        Example({"out_channels": 2, "kernel_size": 3, "dilation": 2, "output_padding": 1}, ((1, 2, PerAxis(3, 3, 3)),)),
        Example({"out_channels": 2, "kernel_size": 2, "stride": (2,), "output_padding": (1,)}, ((2, PerAxis(3, 3, 3)),),
                note="unbatched, 1-entry tuples"),
        Rejected({"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 2}, ((1, 2, PerAxis(4, 4, 4)),),
                 torch_says="output padding must be smaller than either stride or dilation"),
        # (1 - 1)*1 - 2*2 + 2 + 1 = -1
        Rejected({"out_channels": 2, "kernel_size": 3, "padding": 2}, ((1, 2, PerAxis(1, 1, 1)),),
                 torch_says="(?i)output size"),
        Rejected({"out_channels": 2, "kernel_size": 3, "padding_mode": "reflect"}, ((1, 2, PerAxis(4, 4, 4)),),
                 torch_says="Only \"zeros\" padding mode"),
    )

    @model_validator(mode="after")
    def _torch_checks(self):
        _check_lengths(self, ("stride", "dilation", "padding", "output_padding"))
        for op, s, d in zip(self.op(), self.s(), self.d()):
            if not (op < s or op < d):
                raise ValueError(f"output_padding={op} must be smaller than either stride={s} or dilation={d}")
        return self

    def p(self):
        return ntuple(self.padding, self.ndim, "padding")

    def op(self):
        return ntuple(self.output_padding, self.ndim, "output_padding")

    def output_shape(self, inputs):
        x = inputs[0]
        out = []
        for axis, (L, k, s, p, op, d) in enumerate(zip(x[-self.ndim:], self.k(), self.s(), self.p(), self.op(), self.d())):
            size = transposed_output(L, k, s, p, op, d)
            require_ge(size, 1, f"output size on spatial axis {axis} would be {size}: padding {p} is too large",
                       argument="padding", received=p)
            out.append(size)
        return tuple(x[:-self.ndim - 1]) + (self.out_channels,) + tuple(out)

    def params(self, inputs):
        c_in = self.infer(inputs)["in_channels"]
        weight = c_in * (self.out_channels // self.groups) * prod(self.k())
        return Params(trainable=weight + (self.out_channels if self.bias else 0))

    def macs(self, inputs, output):
        # every input element is scattered through (out/groups) * prod(k) weights (torch's flop rule)
        return numel_of(inputs[0]) * (self.out_channels // self.groups) * prod(self.k())

    def receptive_field(self, inputs, output):
        # output o reads inputs i with i*s - p + j*d = o: stride 1/s, span d(k-1)/s (input units)
        kern = tuple(Fraction(d * (k - 1), s) + 1 for k, s, d in zip(self.k(), self.s(), self.d()))
        stride = tuple(Fraction(1, s) for s in self.s())
        pad = tuple(Fraction(d * (k - 1) - p, s) for k, s, p, d in zip(self.k(), self.s(), self.p(), self.d()))
        return Window(kernel=kern, stride=stride, padding=pad, whole=self.channels_read(inputs))

Conv1d, Conv2d, Conv3d = register_ranks(_ConvNd, name="Conv")
ConvTranspose1d, ConvTranspose2d, ConvTranspose3d = register_ranks(_ConvTransposeNd, name="ConvTranspose")


class _FixedConvNd(_ConvNd):
    """A convolution whose weight (and bias, if any) is a fixed buffer, not a parameter: blur pools,
    Sobel or Gaussian filters (F.conv2d(x, self.filt) on a registered buffer). MACs as a Conv's."""

    has_weight_macs: ClassVar[bool] = False
    torch_class: ClassVar[str | None] = None

    bias: bool = False

    examples: ClassVar[tuple] = (
        Example({"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 4},
                ((1, 4, PerAxis(8, 7, 6)),), note="a blur pool: depthwise, stride 2"),
        Example({"out_channels": 2, "kernel_size": PerAxis(3, 2, 1), "bias": True}, ((2, 3, PerAxis(6, 5, 4)),)),
        Rejected({"out_channels": 2, "kernel_size": 5}, ((1, 3, PerAxis(4, 4, 4)),),
                 torch_says="Kernel size can't be greater than actual input size"),
    )

    def params(self, inputs):
        return Params()

    def buffers(self, inputs):
        return self.weight_numel(inputs) + (self.out_channels if self.bias else 0)

    def backward_macs(self, inputs, output, input_requires_grad, weight_requires_grad=True):
        # no weight gradient (the weight is a buffer); the input gradient costs what the forward does
        return self.macs(inputs, output) if input_requires_grad else 0


FixedConv1d, FixedConv2d, FixedConv3d = register_ranks(_FixedConvNd, name="FixedConv")


class _StdConvNd(_ConvNd):
    """A convolution whose weight is standardized from its parameter at every call: timm's StdConv2d
    (BiT) and, with `gain`, NF-Nets' ScaledStdConv2d: w' = gain * (w - mean) / sqrt(var + eps), mean
    and var per output channel over the other weight dims (F.batch_norm in training mode on the
    weight). params: weight, bias and with gain one per output channel. MACs are the convolution's;
    other_ops add the standardization, a LayerNorm over the weight: weight numel x (5 + gain)."""

    torch_class: ClassVar[str | None] = None

    eps: Annotated[float, Field(gt=0)] = 1e-6  # torch: "batch_norm eps must be positive during training"
    gain: bool = False

    examples: ClassVar[tuple] = (
        Example({"out_channels": 4, "kernel_size": 3, "padding": 1, "gain": True}, ((2, 3, PerAxis(8, 7, 6)),),
                note="NF-Net's ScaledStdConv2d"),
        Example({"out_channels": 6, "kernel_size": PerAxis(3, 1, 2), "stride": 2, "groups": 3, "bias": False},
                ((1, 3, PerAxis(9, 8, 5)),), note="BiT's StdConv2d, grouped"),
        Rejected({"out_channels": 2, "kernel_size": 5}, ((1, 3, PerAxis(4, 4, 4)),),
                 torch_says="Kernel size can't be greater than actual input size"),
    )

    def output_shape(self, inputs):
        per_channel = self.weight_numel(inputs) // self.out_channels
        if per_channel < 2:  # torch's batch_norm in training mode: "Expected more than 1 value per channel"
            raise ShapeError(f"each output channel's weight has {per_channel} value: standardizing it needs more "
                             f"than 1", argument="kernel_size", value=self.kernel_size)
        return super().output_shape(inputs)

    def params(self, inputs):
        return Params(trainable=self.weight_numel(inputs) + self.out_channels * (int(self.bias) + int(self.gain)))

    def other_ops(self, inputs, output):
        from .norm import STATS_OPS
        return super().other_ops(inputs, output) + self.weight_numel(inputs) * (STATS_OPS + int(self.gain))


StdConv1d, StdConv2d, StdConv3d = register_ranks(_StdConvNd, name="StdConv")
