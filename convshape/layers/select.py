"""Narrow: one contiguous slice along a dim (torch.narrow; one part of torch.chunk / torch.split).

ShuffleNet-style blocks split the channels in two and treat each half differently; a part of a
chunk or split is `Narrow(dim, start, length, split=NAME)`, so the split itself needs no
multi-output layer. `split` matters to backward memory only: the parts of one split share one
backward (torch's SplitBackward: one cat of the parts' gradients, zeros for a part without one),
where each plain narrow (SliceBackward) makes an input-sized gradient of its own.
"""
from __future__ import annotations

from typing import ClassVar

from ..dims import require_ge
from ..errors import ShapeError
from .base import Int, Layer, NonNegInt, Window, register
from .examples import Example, Rejected


@register
class Narrow(Layer):
    """x.narrow(dim, start, length): `length` entries of dim `dim` from `start` (negative counts from the end).
    split: a name the parts of one torch.split / chunk of the same input share (the importer writes
    the split's op name); parts of one split must not overlap."""

    family: ClassVar[str] = "shape"
    torch_class: ClassVar[str | None] = None

    dim: Int
    start: Int
    length: NonNegInt
    split: str | None = None

    examples: ClassVar[tuple] = (
        Example({"dim": 1, "start": 0, "length": 58}, ((1, 116, 28, 28),), note="first half of a chunk(2, dim=1)"),
        Example({"dim": 1, "start": 58, "length": 58}, ((1, 116, 28, 28),)),
        Example({"dim": -1, "start": -3, "length": 2}, ((2, 4, 9),), note="start -3 is 6 on a dim of 9"),
        Example({"dim": 2, "start": 1, "length": 5}, ((2, 3, 8, 8),), note="a crop of a spatial dim"),
        Example({"dim": 1, "start": 8, "length": 8, "split": "chunk"}, ((2, 24, 4, 4),),
                note="the middle part of a chunk(3, dim=1)"),
        Rejected({"dim": 1, "start": 2, "length": 3}, ((1, 4, 5),), torch_says="exceeds dimension size"),
        Rejected({"dim": 3, "start": 0, "length": 1}, ((1, 4, 5),), torch_says="Dimension out of range"),
        Rejected({"dim": 1, "start": -5, "length": 1}, ((1, 4, 5),), torch_says="out of range"),
    )

    def _dim(self, x):
        if not -len(x) <= self.dim < len(x):
            raise ShapeError(f"dim={self.dim} is out of range for a {len(x)}-D input", argument="dim", value=self.dim)
        return self.dim % len(x)

    def _start(self, size):
        if self.start >= 0:
            return self.start
        # torch wraps a negative start once: start + size must be >= 0
        require_ge(size + self.start, 0, f"start={self.start} is out of range for a dim of size {size}",
                   argument="start", received=self.start)
        return size + self.start

    def output_shape(self, inputs):
        x = inputs[0]
        d = self._dim(x)
        start = self._start(x[d])
        require_ge(x[d], start + self.length, lambda: f"start ({self.start}) + length ({self.length}) exceeds "
                   f"dimension size ({x[d]})", argument="length", received=self.length)
        return tuple(x[:d]) + (self.length,) + tuple(x[d + 1:])

    def split_part(self, x):
        """(dim, start, length) of this part of its split, on input shape x."""
        d = self._dim(x)
        return d, self._start(x[d]), self.length

    def receptive_field(self, inputs, output):
        x = inputs[0]
        d = self._dim(x)
        # output index o reads input start + o along dim d (spatial there, or after a permute)
        m = len(x) - d
        return Window(kernel=(1,) * m, stride=(1,) * m, padding=(-self._start(x[d]),) + (0,) * (m - 1))
