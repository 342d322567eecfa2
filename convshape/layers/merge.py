"""Merges of several tensors: residual Add, broadcasting Mul (SE gates), Concat along a dim."""
from __future__ import annotations

from typing import ClassVar

from ..dims import prod, require_broadcast, require_eq, total
from ..errors import ShapeError
from .base import GlobalOver, Int, Layer, Params, PosInt, Remap, Window, register
from .examples import Example, Rejected


def broadcast(shapes, kind: str):
    """torch broadcasting: align from the right; each dim equal or 1."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis, dims in enumerate(zip(*padded)):
        non_one = [d for d in dims if not (type(d) is int and d == 1)]
        if not non_one:
            out.append(1)
            continue
        first = non_one[0]
        for d in non_one[1:]:
            # symbolic sizes that differ still broadcast where one of them is 1 (torch does too)
            first = require_broadcast(d, first, lambda d=d, axis=axis, first=first: f"{kind}: shapes "
                                      f"{' and '.join(_s(s) for s in shapes)} do not broadcast at dim {axis - rank} "
                                      f"({first} vs {d})", argument="inputs", received=d)
        out.append(first)
    return tuple(out)


def _s(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


class _Elementwise(Layer):
    family: ClassVar[str] = "merge"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    torch_class: ClassVar[str | None] = None

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 4, 4), (2, 3, 4, 4))),
        Example({}, ((2, 8, 5, 5), (2, 8, 1, 1)), note="squeeze-excitation gate"),
        Example({}, ((3, 1, 5), (4, 1), (1, 5)), note="three inputs, ranks differ"),
        Rejected({}, ((2, 3, 4), (2, 4, 4)), torch_says="must match the size of tensor"),
    )

    def output_shape(self, inputs):
        return broadcast(inputs, self.kind)

    def other_ops(self, inputs, output):
        return prod(output) * (len(inputs) - 1)  # one add/mul per output element per extra input


@register
class Add(_Elementwise):
    """Element-wise sum of two or more tensors (residual connections), with broadcasting."""


@register
class Mul(_Elementwise):
    """Element-wise product with broadcasting (squeeze-and-excitation gates)."""


@register
class Concat(Layer):
    """torch.cat along `dim` (default 1, the channel dim); other dims must match."""

    family: ClassVar[str] = "merge"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    torch_class: ClassVar[str | None] = None

    dim: Int = 1

    examples: ClassVar[tuple] = (
        Example({}, ((1, 2, 4, 4), (1, 3, 4, 4))),
        Example({"dim": -1}, ((2, 3, 1), (2, 3, 5), (2, 3, 2))),
        Rejected({}, ((1, 2, 4, 4), (1, 3, 4, 5)), torch_says="Sizes of tensors must match"),
        Rejected({}, ((1, 2, 4), (1, 3, 4, 5)), torch_says="must have same number of dimensions"),
        Rejected({"dim": 3}, ((1, 2, 4), (1, 3, 4)), torch_says="Dimension out of range"),
    )

    def output_shape(self, inputs):
        rank = len(inputs[0])
        for s in inputs[1:]:
            if len(s) != rank:
                raise ShapeError(f"Concat: inputs have ranks {[len(s) for s in inputs]}; all must match",
                                 argument="inputs", value=[len(s) for s in inputs])
        d = self.dim if self.dim >= 0 else rank + self.dim
        if not 0 <= d < rank:
            raise ShapeError(f"dim={self.dim} is out of range for {rank}-D inputs", argument="dim", value=self.dim)
        out = list(inputs[0])
        for axis in range(rank):
            if axis == d:
                continue
            for s in inputs[1:]:
                require_eq(s[axis], inputs[0][axis],
                           lambda s=s, axis=axis: f"Concat along dim {self.dim}: shapes "
                           f"{' and '.join(_s(x) for x in inputs)} differ at dim {axis} "
                           f"({inputs[0][axis]} vs {s[axis]})", argument="inputs", received=s[axis])
        out[d] = total(s[d] for s in inputs)
        return tuple(out)

    def receptive_field(self, inputs, output):
        # along a dim that carries a spatial axis, which input an output index reads, and where,
        # depends on the index: no (size, stride, padding) holds, so the axis is reported global
        return GlobalOver(dims=(self.dim % len(inputs[0]),))


@register
class Stack(Layer):
    """torch.stack along a new dim `dim` (default 0); every input has the same shape."""

    family: ClassVar[str] = "merge"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = None
    torch_class: ClassVar[str | None] = None

    dim: Int = 0

    examples: ClassVar[tuple] = (
        Example({"dim": 1}, ((2, 8, 4, 4), (2, 8, 4, 4)), note="SK-Net / ResNeSt: the branches stacked"),
        Example({"dim": -1}, ((3, 5), (3, 5), (3, 5))),
        Rejected({}, ((2, 3), (2, 4)), torch_says="stack expects each tensor to be equal size"),
        Rejected({"dim": 3}, ((2, 3), (2, 3)), torch_says="out of range"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        for s in inputs[1:]:
            if len(s) != len(x):
                raise ShapeError(f"Stack: inputs have ranks {[len(t) for t in inputs]}; all must match",
                                 argument="inputs", value=[len(t) for t in inputs])
            for axis in range(len(x)):
                require_eq(s[axis], x[axis], lambda s=s, axis=axis: f"Stack: shapes "
                           f"{' and '.join(_s(t) for t in inputs)} differ at dim {axis}", argument="inputs",
                           received=s[axis])
        if not -(len(x) + 1) <= self.dim <= len(x):
            raise ShapeError(f"dim={self.dim} is out of range for {len(x)}-D inputs", argument="dim", value=self.dim)
        d = self.dim % (len(x) + 1)
        return tuple(x[:d]) + (len(inputs),) + tuple(x[d:])

    def receptive_field(self, inputs, output):
        d = self.dim % (len(inputs[0]) + 1)
        return Remap(tuple((i,) for i in range(d)) + ((),) + tuple((i,) for i in range(d, len(inputs[0]))))


@register
class ParamConcat(Layer):
    """torch.cat of a learned tensor of `shape` (expanded to the input's size on every other dim)
    and the input along `dim`, the learned part first: ViT's class token, cat([token.expand(N, -1, -1), x], 1)."""

    family: ClassVar[str] = "merge"
    torch_class: ClassVar[str | None] = None

    shape: tuple[PosInt, ...]
    dim: Int = 1

    examples: ClassVar[tuple] = (
        Example({"shape": (1, 1, 768)}, ((2, 196, 768),), note="ViT's class token"),
        Example({"shape": (1, 4, 2), "dim": -2}, ((3, 5, 2),), note="several register tokens"),
        Rejected({"shape": (1, 1, 8)}, ((2, 196, 768),), torch_says="Sizes of tensors must match except in dimension 1"),
    )

    def _dim(self, x):
        if len(self.shape) != len(x):
            raise ShapeError(f"shape {list(self.shape)} has {len(self.shape)} dims for a {len(x)}-D input",
                             argument="shape", value=list(self.shape))
        if not -len(x) <= self.dim < len(x):
            raise ShapeError(f"dim={self.dim} is out of range for a {len(x)}-D input", argument="dim", value=self.dim)
        d = self.dim % len(x)
        for axis, (p, s) in enumerate(zip(self.shape, x)):
            if axis != d and p != 1:
                require_eq(s, p, lambda axis=axis: f"ParamConcat: shape {list(self.shape)} and the input "
                           f"{_s(x)} differ at dim {axis}", argument="shape", received=p)
        return d

    def output_shape(self, inputs):
        x = inputs[0]
        d = self._dim(x)
        return tuple(x[:d]) + (x[d] + self.shape[d],) + tuple(x[d + 1:])

    def params(self, inputs):
        return Params(trainable=prod(self.shape))

    def receptive_field(self, inputs, output):
        x = inputs[0]
        d = self._dim(x)
        # the input's positions move by shape[d] along dim d (tokens after a flatten, or a spatial
        # dim): output index o reads input o - shape[d]
        m = len(x) - d
        return Window(kernel=(1,) * m, stride=(1,) * m, padding=(self.shape[d],) + (0,) * (m - 1))
