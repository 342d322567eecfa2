"""Element-wise arithmetic beyond Add/Mul: a second tensor (Sub, Div, Maximum, Minimum), a constant
scalar (ScalarArith), a learned or fixed tensor held by the layer (ParamArith), bias + weight * x in
one op (Affine), and one-input functions (UnaryOp: rsqrt, square, ...). NF-Nets' scaled activations,
PoolFormer's x - pool(x), ConvNeXt-V2's GRN and RMS / filter-response norms are built from these.

other_ops: one per output element (per extra input for the two-tensor kinds), as for Add and Mul;
Affine's two or three are in its docstring.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import model_validator

from ..dims import prod
from .base import Layer, Number, Params, PosInt, register
from .examples import Example, Rejected
from .merge import _Elementwise, broadcast


class _Binary(_Elementwise):
    max_inputs: ClassVar[int | None] = 2

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 4, 4), (2, 3, 4, 4))),
        Example({}, ((2, 8, 5, 5), (2, 8, 1, 1)), note="PoolFormer's x - pool(x) / a per-channel statistic"),
        Example({}, ((3, 1, 5), (4, 1)), note="ranks differ"),
        Rejected({}, ((2, 3, 4), (2, 4, 4)), torch_says="must match the size of tensor"),
    )


@register
class Sub(_Binary):
    """inputs[0] - inputs[1], broadcasting."""


@register
class Div(_Binary):
    """inputs[0] / inputs[1] (true division), broadcasting."""


@register
class Maximum(_Binary):
    """torch.maximum(inputs[0], inputs[1]), broadcasting."""


@register
class Minimum(_Binary):
    """torch.minimum(inputs[0], inputs[1]), broadcasting."""


ArithOp = Literal["add", "sub", "rsub", "mul", "div", "rdiv", "pow", "rpow", "maximum", "minimum"]


@register
class ScalarArith(Layer):
    """x op value for a constant scalar: add, sub (x - v), rsub (v - x), mul, div (x / v), rdiv (v / x),
    pow (x ** v), rpow (v ** x), maximum, minimum (a clamp at one side)."""

    family: ClassVar[str] = "arith"
    torch_class: ClassVar[str | None] = None

    op: ArithOp
    value: Number

    examples: ClassVar[tuple] = (
        Example({"op": "mul", "value": 1.7015}, ((2, 3, 4, 4),), note="NF-Net's gamma-scaled activation"),
        Example({"op": "pow", "value": 2.0}, ((2, 5),)),
        Example({"op": "rsub", "value": 1.0}, ((3, 2, 7),)),
        Example({"op": "maximum", "value": 1e-6}, ((2, 3, 4),)),
    )

    def other_ops(self, inputs, output):
        return prod(output)


@register
class ParamArith(Layer):
    """x op t for a tensor t of `shape` held by the layer, broadcast against x: a learned parameter
    (trainable: true; a position embedding, a bias, GRN's gamma and beta) or a buffer (trainable:
    false; a fixed normalisation constant). Ops as ScalarArith's (rsub: t - x, rdiv: t / x).

    With `table` and `index`, t is gathered from a learned table by a fixed index buffer along
    `gather_dim` (0: table[idx], 1: table[:, idx]) and viewed as `shape`: the relative-position
    attention biases of LeViT, EfficientFormer, EfficientViT. params: the table; buffers: the index."""

    family: ClassVar[str] = "arith"
    torch_class: ClassVar[str | None] = None

    op: ArithOp
    shape: tuple[PosInt, ...]
    trainable: bool = True
    table: tuple[PosInt, ...] | None = None
    index: tuple[PosInt, ...] | None = None
    gather_dim: Literal[0, 1] = 0

    @model_validator(mode="after")
    def _gathered(self):
        if (self.table is None) != (self.index is None):
            raise ValueError("table and index go together")
        if self.table is not None:
            if not self.trainable:
                raise ValueError("a gathered table is a learned parameter (trainable: true)")
            if len(self.table) <= self.gather_dim:
                raise ValueError(f"gather_dim={self.gather_dim} needs a table of {self.gather_dim + 1}+ dims")
            got = prod(self.index) * prod(self.table) // self.table[self.gather_dim]
            if got != prod(self.shape):
                raise ValueError(f"the gathered tensor has {got} elements, shape {list(self.shape)} holds "
                                 f"{prod(self.shape)}")
        return self

    examples: ClassVar[tuple] = (
        Example({"op": "add", "shape": (1, 197, 768)}, ((2, 197, 768),), note="ViT's position embedding"),
        Example({"op": "mul", "shape": (1, 1, 1, 8)}, ((2, 5, 5, 8),), note="GRN's gamma, channels-last"),
        Example({"op": "sub", "shape": (3, 1, 1), "trainable": False}, ((2, 3, 6, 6),),
                note="a fixed mean, as a buffer"),
        Example({"op": "add", "shape": (4, 1)}, ((4,),), note="broadcast grows the rank"),
        Example({"op": "add", "shape": (4, 9, 9), "table": (4, 9), "index": (9, 9), "gather_dim": 1},
                ((2, 4, 9, 9),), note="LeViT's attention biases[:, idxs]"),
        Example({"op": "add", "shape": (3, 16, 16), "table": (49, 3), "index": (256,)}, ((2, 3, 16, 16),),
                note="Swin's table[index.view(-1)].view(16, 16, -1).permute(2, 0, 1)"),
        Rejected({"op": "add", "shape": (1, 5, 1, 1)}, ((2, 8, 5, 5),), torch_says="must match the size of tensor"),
    )

    def output_shape(self, inputs):
        return broadcast([inputs[0], self.shape], self.kind)

    def params(self, inputs):
        n = prod(self.table if self.table is not None else self.shape)
        return Params(trainable=n) if self.trainable else Params()

    def buffers(self, inputs):
        if self.index is not None:
            return prod(self.index)
        return 0 if self.trainable else prod(self.shape)

    def other_ops(self, inputs, output):
        return prod(output)


@register
class Affine(Layer):
    """y = bias + value * weight * x, torch.addcmul(bias, weight, x, value=value): ConvNeXt-V2's GRN
    tail, ResMLP's Affine. weight (`shape`) and bias (`bias_shape`, default `shape`) broadcast against
    x; learned parameters (trainable: true) or both buffers (false). One op where Mul then Add would
    make an intermediate tensor torch never does (it matters for memory).

    other_ops: 2 per output element (a multiply and an add), 3 with value != 1 (value * weight * x
    is two multiplies), as the ScalarArith + two ParamArith it replaces count."""

    family: ClassVar[str] = "arith"
    torch_class: ClassVar[str | None] = None

    shape: tuple[PosInt, ...]
    bias_shape: tuple[PosInt, ...] | None = None
    value: Number = 1.0
    trainable: bool = True

    examples: ClassVar[tuple] = (
        Example({"shape": (1, 1, 1, 8)}, ((2, 5, 5, 8),), note="GRN's gamma and beta, channels-last"),
        Example({"shape": (16,)}, ((2, 9, 16),), note="ResMLP's Affine (alpha, beta over channels)"),
        Example({"shape": (3, 1, 1), "bias_shape": (1,), "value": 0.5, "trainable": False}, ((2, 3, 4, 4),),
                note="buffers, a scalar-like bias, value != 1"),
        Example({"shape": (4, 1), "bias_shape": (1, 5)}, ((5,),), note="broadcast grows the output past x"),
        Rejected({"shape": (1, 5, 1, 1)}, ((2, 8, 5, 5),), torch_says="must match the size of tensor"),
    )

    def _bias_shape(self):
        return self.shape if self.bias_shape is None else self.bias_shape

    def output_shape(self, inputs):
        return broadcast([inputs[0], self.shape, self._bias_shape()], self.kind)

    def params(self, inputs):
        return Params(trainable=self._n()) if self.trainable else Params()

    def buffers(self, inputs):
        return 0 if self.trainable else self._n()

    def _n(self):
        return prod(self.shape) + prod(self._bias_shape())

    def other_ops(self, inputs, output):
        return (2 if self.value == 1 else 3) * prod(output)


UnaryFn = Literal["rsqrt", "sqrt", "square", "exp", "log", "abs", "neg", "reciprocal", "sign", "erf", "sin", "cos"]


@register
class UnaryOp(Layer):
    """An element-wise function of one tensor (torch.rsqrt, torch.square, ...): one op per element."""

    family: ClassVar[str] = "arith"
    torch_class: ClassVar[str | None] = None

    fn: UnaryFn

    examples: ClassVar[tuple] = (
        Example({"fn": "rsqrt"}, ((2, 3, 4, 4),), note="RMS / filter-response norm"),
        Example({"fn": "square"}, ((2, 5),)),
        Example({"fn": "abs"}, ((3, 2, 7),)),
    )

    def other_ops(self, inputs, output):
        return prod(output)
