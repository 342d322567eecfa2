"""Reductions over any dims: torch.sum / mean / amax / amin and the 2-norm (SK-Nets' and ResNeSt's
branch sums, GRN's `x.norm(p=2)`, RMS norm's statistics). Global pooling over the spatial dims stays
AdaptiveAvgPoolNd.

other_ops: sum, amax, amin: one add (compare) per input element that is folded into another,
in - out; mean adds one divide per output element: in; norm squares every input element, adds
(in - out) and takes one square root per output: 2 x in.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from ..dims import prod
from ..errors import ShapeError
from .base import GlobalOver, Int, Layer, register
from .examples import Example, Rejected


@register
class Reduce(Layer):
    """`op` over `dim` (an int, a list, or null for every dim), keeping reduced dims as 1 with keepdim;
    norm is the Euclidean norm (torch.linalg.vector_norm, ord 2)."""

    family: ClassVar[str] = "reduce"
    torch_class: ClassVar[str | None] = None

    op: Literal["sum", "mean", "amax", "amin", "norm"]
    dim: Int | tuple[Int, ...] | None = None
    keepdim: bool = False

    examples: ClassVar[tuple] = (
        Example({"op": "sum", "dim": 1}, ((2, 3, 4, 4),), note="SK-Net: the branches summed"),
        Example({"op": "mean", "dim": (1, 2), "keepdim": True}, ((2, 5, 5, 8),), note="GRN's spatial statistic"),
        Example({"op": "amax", "dim": -1}, ((3, 2, 7),)),
        Example({"op": "sum"}, ((3, 4),), note="every dim"),
        Example({"op": "norm", "dim": (1, 2), "keepdim": True}, ((2, 5, 6, 8),), note="ConvNeXt-V2 GRN's x.norm(p=2)"),
        Rejected({"op": "sum", "dim": 3}, ((2, 3, 4),), torch_says="out of range"),
        Rejected({"op": "mean", "dim": (1, -2)}, ((2, 3, 4),), torch_says="appears multiple times"),
    )

    def dims(self, rank: int) -> tuple:
        if self.dim is None:
            return tuple(range(rank))
        dims = (self.dim,) if isinstance(self.dim, int) else self.dim
        out = []
        for d in dims:
            if not -max(rank, 1) <= d < max(rank, 1):
                raise ShapeError(f"dim={d} is out of range for a {rank}-D input", argument="dim", value=d)
            if d % max(rank, 1) in out:
                raise ShapeError(f"dim {d} appears twice in {list(dims)}", argument="dim", value=list(dims))
            out.append(d % max(rank, 1))
        return tuple(sorted(out))

    def output_shape(self, inputs):
        x = inputs[0]
        dims = self.dims(len(x))
        if self.keepdim:
            return tuple(1 if d in dims else s for d, s in enumerate(x))
        return tuple(s for d, s in enumerate(x) if d not in dims)

    def other_ops(self, inputs, output):
        n_in, n_out = prod(inputs[0]), prod(output)
        if self.op == "norm":
            return 2 * n_in
        return n_in if self.op == "mean" else n_in - n_out

    def receptive_field(self, inputs, output):
        x = inputs[0]
        dims = self.dims(len(x))
        kept = tuple((d,) for d in range(len(x)) if self.keepdim or d not in dims)
        return GlobalOver(dims=dims, sources=kept if not self.keepdim else None)
