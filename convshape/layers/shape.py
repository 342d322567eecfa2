"""Pure re-arrangements: Flatten, Unflatten, Permute, Reshape (no arithmetic, no parameters)."""
from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from ..dims import prod
from ..errors import ShapeError
from .base import Int, Layer, Remap, register
from .examples import Example, Rejected


def _norm_dim(d: int, rank: int, name: str) -> int:
    if not -rank <= d < rank:
        raise ShapeError(f"{name}={d} is out of range for a {rank}-D input", argument=name, value=d)
    return d % rank


@register
class Flatten(Layer):
    """Merge dims start_dim..end_dim into one (torch.nn.Flatten; default keeps the batch dim)."""

    family: ClassVar[str] = "shape"

    start_dim: Int = 1
    end_dim: Int = -1

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 4, 5),)),
        Example({"start_dim": 0}, ((5,),)),
        Example({"start_dim": 1, "end_dim": 2}, ((2, 3, 4, 5),)),
        Example({"start_dim": -2, "end_dim": -2}, ((2, 3, 4),)),
        Rejected({"start_dim": 2, "end_dim": 1}, ((2, 3, 4),), torch_says="start_dim cannot come after end_dim"),
        Rejected({}, ((5,),), torch_says="Dimension out of range"),
    )

    def _range(self, shape):
        rank = len(shape)
        if rank == 0:
            return 0, -1
        s = _norm_dim(self.start_dim, rank, "start_dim")
        e = _norm_dim(self.end_dim, rank, "end_dim")
        if s > e:
            raise ShapeError(f"start_dim={self.start_dim} comes after end_dim={self.end_dim}",
                             argument="start_dim", value=self.start_dim)
        return s, e

    def output_shape(self, inputs):
        x = inputs[0]
        s, e = self._range(x)
        return tuple(x[:s]) + (prod(x[s:e + 1]),) + tuple(x[e + 1:])

    def receptive_field(self, inputs, output):
        x = inputs[0]
        s, e = self._range(x)
        return Remap(tuple((i,) for i in range(s)) + (tuple(range(s, e + 1)),)
                     + tuple((i,) for i in range(e + 1, len(x))))


@register
class Unflatten(Layer):
    """Split dim `dim` into `unflattened_size` (torch.nn.Unflatten); one entry may be -1."""

    family: ClassVar[str] = "shape"

    dim: Int
    unflattened_size: Annotated[tuple[Int, ...], Field(min_length=1)]

    examples: ClassVar[tuple] = (
        Example({"dim": 1, "unflattened_size": (2, -1)}, ((2, 6),)),
        Example({"dim": -1, "unflattened_size": (3, 2)}, ((4, 5, 6),)),
        Example({"dim": 0, "unflattened_size": (6,)}, ((6, 2),)),
        Rejected({"dim": 1, "unflattened_size": (4, 2)}, ((2, 6),), torch_says="unflatten"),
        Rejected({"dim": 1, "unflattened_size": (-1, -1)}, ((2, 6),), torch_says="unflatten"),
        Rejected({"dim": 1, "unflattened_size": ()}, ((2, 6),), torch_says="sizes must be non-empty"),
        Rejected({"dim": 2, "unflattened_size": (2, 3)}, ((2, 6),), torch_says="Dimension out of range"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        d = _norm_dim(self.dim, len(x), "dim")
        sizes = list(self.unflattened_size)
        known = prod(s for s in sizes if s != -1)
        if sizes.count(-1) > 1 or any(s < -1 or s == 0 for s in sizes):
            raise ShapeError(f"unflattened_size {tuple(sizes)} may hold one -1 and otherwise positive sizes",
                             argument="unflattened_size", value=sizes)
        if -1 in sizes:
            sizes[sizes.index(-1)] = _exact_div(x[d], known, "unflattened_size")
        else:
            from ..dims import require_eq
            require_eq(known, x[d], f"unflattened_size {tuple(sizes)} has {known} elements but dim {self.dim} "
                       f"has {x[d]}", argument="unflattened_size", received=sizes)
        return tuple(x[:d]) + tuple(sizes) + tuple(x[d + 1:])

    def receptive_field(self, inputs, output):
        x = inputs[0]
        d = _norm_dim(self.dim, len(x), "dim")
        n = len(self.unflattened_size)
        return Remap(tuple((i,) for i in range(d)) + tuple((d,) for _ in range(n))
                     + tuple((i,) for i in range(d + 1, len(x))))


@register
class Permute(Layer):
    """Reorder dims (torch.permute); e.g. [0, 2, 3, 1] for channels-last."""

    family: ClassVar[str] = "shape"
    torch_class: ClassVar[str | None] = None

    dims: tuple[Int, ...]

    examples: ClassVar[tuple] = (
        Example({"dims": (0, 2, 3, 1)}, ((2, 3, 4, 5),)),
        Example({"dims": (-1, 0)}, ((3, 7),)),
        Rejected({"dims": (0, 2, 1)}, ((2, 3, 4, 5),), torch_says="does not match the length"),
        Rejected({"dims": (0, 1, 1)}, ((2, 3, 4),), torch_says="duplicate dims"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        if len(self.dims) != len(x):
            raise ShapeError(f"dims {list(self.dims)} has {len(self.dims)} entries for a {len(x)}-D input",
                             argument="dims", value=list(self.dims))
        norm = [_norm_dim(d, len(x), "dims") for d in self.dims]
        if sorted(norm) != list(range(len(x))):
            raise ShapeError(f"dims {list(self.dims)} is not a permutation", argument="dims", value=list(self.dims))
        return tuple(x[d] for d in norm)

    def receptive_field(self, inputs, output):
        return Remap(tuple((d % len(inputs[0]),) for d in self.dims))


@register
class Reshape(Layer):
    """torch.reshape to `shape` (one entry may be -1); the batch dim is written too, e.g. [-1, 512]."""

    family: ClassVar[str] = "shape"
    torch_class: ClassVar[str | None] = None

    shape: tuple[Int, ...]

    examples: ClassVar[tuple] = (
        Example({"shape": (-1, 12)}, ((2, 3, 4),)),
        Example({"shape": (6, 4)}, ((2, 3, 4),)),
        Example({"shape": (2, 3, 1, 4)}, ((2, 3, 4),)),
        Rejected({"shape": (5, -1)}, ((2, 3, 4),), torch_says="is invalid for input of size 24"),
        Rejected({"shape": (0, -1)}, ((2, 3, 4),), torch_says="invalid for input of size 24"),
        Rejected({"shape": (-1, -1)}, ((2, 3, 4),), torch_says="only one dimension can be inferred"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        sizes = list(self.shape)
        if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
            raise ShapeError(f"shape {sizes} may hold one -1 and otherwise sizes >= 0", argument="shape", value=sizes)
        n = prod(x)
        known = prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if known == 0:
                raise ShapeError(f"shape {sizes} is ambiguous with a 0 and a -1", argument="shape", value=sizes)
            sizes[sizes.index(-1)] = _exact_div(n, known, "shape")
        else:
            from ..dims import require_eq
            require_eq(known, n, f"shape {sizes} has {known} elements but the input has {n}",
                       argument="shape", received=sizes)
        return tuple(sizes)

    def receptive_field(self, inputs, output):
        x = inputs[0]
        # dims that survive unchanged at the front and back keep their axes; the middle is mixed
        front = 0
        while front < min(len(x), len(output)) and _same(x[front], output[front]):
            front += 1
        back = 0
        while (back < min(len(x), len(output)) - front and _same(x[len(x) - 1 - back], output[len(output) - 1 - back])):
            back += 1
        middle = tuple(range(front, len(x) - back))
        sources = [(i,) for i in range(front)]
        sources += [middle] * (len(output) - front - back)
        sources += [(len(x) - back + j,) for j in range(back)]
        return Remap(tuple(sources))


def _same(a, b):
    return a is b or (type(a) is int and type(b) is int and a == b) or str(a) == str(b)


def exact_quotient(n, d: int, message, argument: str):
    """n / d where d must divide n: a ShapeError when concrete, a condition when symbolic."""
    from ..dims import floordiv, require_eq
    q = floordiv(n, d)
    require_eq(q * d, n, message, argument=argument, received=d)
    return q


def _exact_div(n, d, argument):
    return exact_quotient(n, d, lambda: f"cannot infer -1: {n} elements are not divisible by {d}", argument)
