"""Pure re-arrangements: Flatten, Unflatten, Permute, Reshape, Unsqueeze, Squeeze, Index (general
indexing and strided slices): no arithmetic, no parameters."""
from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from ..dims import ceildiv, prod, require_ge
from ..errors import ShapeError
from .base import GlobalOver, Int, Layer, Remap, Window, register
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


@register
class Expand(Layer):
    """x.expand(*sizes): a dim of size 1 repeated to `sizes[d]` (-1 keeps a dim), new leading dims
    as torch allows; a view with no arithmetic. An output element reads the one input element along
    each expanded dim."""

    family: ClassVar[str] = "shape"
    torch_class: ClassVar[str | None] = None

    sizes: Annotated[tuple[Int, ...], Field(min_length=1)]

    examples: ClassVar[tuple] = (
        Example({"sizes": (-1, -1, 16, -1)}, ((4, 16, 1, 16),), note="BoTNet's relative logits"),
        Example({"sizes": (2, 5, -1)}, ((1, 7),), note="a new leading dim"),
        Rejected({"sizes": (-1, 4, -1)}, ((2, 3, 5),), torch_says="must match the existing size"),
        Rejected({"sizes": (-1, 3, 5)}, ((3, 5),), torch_says="allowed in a leading, non-existing dimension"),
        Rejected({"sizes": (5,)}, ((2, 5),), torch_says="must be greater or equal to the number of dimensions"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        new = len(self.sizes) - len(x)
        if new < 0:
            raise ShapeError(f"sizes {list(self.sizes)} has {len(self.sizes)} entries, fewer than the input's "
                             f"{len(x)} dims", argument="sizes", value=list(self.sizes))
        out = []
        for d, want in enumerate(self.sizes[:new]):
            if want < 0:
                raise ShapeError(f"size {want} is not allowed in a new leading dim {d}", argument="sizes",
                                 value=list(self.sizes))
            out.append(want)
        for d, (have, want) in enumerate(zip(x, self.sizes[new:])):
            if want == -1 or want == have:
                out.append(have)
            elif have == 1 and want >= 0:
                out.append(want)
            else:
                raise ShapeError(f"the expanded size {want} must match the existing size {have} at dim {d} "
                                 f"(or that size must be 1)", argument="sizes", value=list(self.sizes))
        return tuple(out)

    def receptive_field(self, inputs, output):
        x = inputs[0]
        new = len(output) - len(x)
        grown = tuple(d for d, (a, b) in enumerate(zip(x, output[new:])) if a != b)
        return GlobalOver(dims=grown, sources=((),) * new + tuple((d,) for d in range(len(x))))


@register
class TensorUnfold(Layer):
    """x.unfold(dimension, size, step) (Tensor.unfold, not nn.Unfold's im2col): the windows of `size`
    along `dimension`, every `step`, as a view; dimension becomes the window count (L - size) // step
    + 1 and a new last dim of `size` indexes within a window (HaloNet's overlapping key blocks).
    Receptive field: global over the unfolded dim, an upper bound (a window reads `size` positions)."""

    family: ClassVar[str] = "shape"
    torch_class: ClassVar[str | None] = None

    dimension: Int
    size: Annotated[int, Field(ge=0)]
    step: Annotated[int, Field(gt=0)]

    examples: ClassVar[tuple] = (
        Example({"dimension": 2, "size": 4, "step": 2}, ((2, 3, 8, 8),), note="HaloNet: 4-wide blocks every 2"),
        Example({"dimension": -1, "size": 3, "step": 3}, ((2, 10),)),
        Rejected({"dimension": 1, "size": 5, "step": 1}, ((2, 4),), torch_says="maximum size for tensor at dimension"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        d = _norm_dim(self.dimension, max(len(x), 1), "dimension")
        require_ge(x[d], self.size, f"size {self.size} is larger than dim {d} of size {x[d]}", argument="size",
                   received=self.size)
        return tuple(x[:d]) + ((x[d] - self.size) // self.step + 1,) + tuple(x[d + 1:]) + (self.size,)

    def receptive_field(self, inputs, output):
        x = inputs[0]
        d = _norm_dim(self.dimension, max(len(x), 1), "dimension")
        return GlobalOver(dims=(d,), sources=tuple((j,) for j in range(len(x))) + ((d,),))


@register
class Unsqueeze(Layer):
    """x.unsqueeze(dim): a new dim of size 1 (dim counts in the output, -1 appends)."""

    family: ClassVar[str] = "shape"
    torch_class: ClassVar[str | None] = None

    dim: Int

    examples: ClassVar[tuple] = (
        Example({"dim": 1}, ((2, 8),)),
        Example({"dim": -1}, ((2, 3, 4),)),
        Rejected({"dim": 4}, ((2, 3, 4),), torch_says="out of range"),
    )

    def _dim(self, x):
        return _norm_dim(self.dim, len(x) + 1, "dim")

    def output_shape(self, inputs):
        x = inputs[0]
        d = self._dim(x)
        return tuple(x[:d]) + (1,) + tuple(x[d:])

    def receptive_field(self, inputs, output):
        x = inputs[0]
        d = self._dim(x)
        return Remap(tuple((i,) for i in range(d)) + ((),) + tuple((i,) for i in range(d, len(x))))


@register
class Squeeze(Layer):
    """x.squeeze(dim): drop size-1 dims (all of them with dim null; a listed dim of another size stays)."""

    family: ClassVar[str] = "shape"
    torch_class: ClassVar[str | None] = None

    dim: Int | tuple[Int, ...] | None = None

    examples: ClassVar[tuple] = (
        Example({"dim": -1}, ((2, 8, 1),)),
        Example({}, ((2, 1, 3, 1),)),
        Example({"dim": (1, 2)}, ((2, 1, 3, 1),), note="dim 2 (size 3) stays"),
        Rejected({"dim": 3}, ((2, 1, 3),), torch_says="out of range"),
        Rejected({"dim": (-1, 1)}, ((8, 1),), torch_says="appears multiple times"),
    )

    def _dropped(self, x):
        if self.dim is None:
            candidates = range(len(x))
        else:
            dims = (self.dim,) if isinstance(self.dim, int) else self.dim
            candidates = [_norm_dim(d, max(len(x), 1), "dim") for d in dims]
            repeated = next((d for i, d in enumerate(candidates) if d in candidates[:i]), None)
            if repeated is not None:  # torch refuses a dim listed twice, however it is written
                raise ShapeError(f"dim {repeated} appears more than once in dim={self.dim}", argument="dim",
                                 value=self.dim)
        dropped = []
        for d in candidates:
            if type(x[d]) is not int:
                raise ShapeError(f"squeeze of dim {d} needs its size, got {x[d]}", argument="dim", value=d)
            if x[d] == 1:
                dropped.append(d)
        return set(dropped)

    def output_shape(self, inputs):
        x = inputs[0]
        dropped = self._dropped(x)
        return tuple(s for d, s in enumerate(x) if d not in dropped)

    def receptive_field(self, inputs, output):
        x = inputs[0]
        dropped = self._dropped(x)
        return Remap(tuple((d,) for d in range(len(x)) if d not in dropped))


IndexEntry = Int | None | tuple[Int | None, Int | None, Int | None]


@register
class Index(Layer):
    """x[index], one entry per leading dim: an int selects (the dim goes), [start, stop, step] slices
    (nulls as in Python; a step > 0), null inserts a new dim of 1. Dims past the entries are kept.
    ViT's x[:, 0] is [[null, null, null], 0]; a stride-2 crop x[..., ::2, ::2] lists every dim.
    split: a name the elements of one torch.unbind of the same input share (q, k, v = x.unbind(0)):
    full slices then one int. They share one backward (UnbindBackward: one stack of their gradients),
    where each plain x[..., i] (SelectBackward) makes an input-sized gradient of its own."""

    family: ClassVar[str] = "shape"
    torch_class: ClassVar[str | None] = None

    index: tuple[IndexEntry, ...]
    split: str | None = None

    examples: ClassVar[tuple] = (
        Example({"index": ((None, None, None), 0)}, ((2, 197, 768),), note="ViT's class token"),
        Example({"index": ((None, None, None), (None, None, None), (0, None, 2), (1, None, 2))}, ((2, 3, 8, 9),),
                note="space-to-depth's strided crops"),
        Example({"index": (-1, (1, -1, None), None)}, ((4, 6, 5),), note="int, slice and a new axis"),
        Example({"index": ((None, None, None), 1), "split": "unbind"}, ((2, 3, 4),), note="k of q, k, v = x.unbind(1)"),
        Rejected({"index": ((0, 2, None), 1), "split": "unbind"}, ((2, 3, 4),), torch_says="then one int",
                 note="an unbind's element takes whole dims before its int (the torch module refuses it too)"),
        Rejected({"index": ((None, None, None), 5)}, ((2, 3, 4),), torch_says="out of bounds"),
        Rejected({"index": ((None, None, None), (None, None, 0))}, ((2, 3, 4),), torch_says="step cannot be zero"),
        Rejected({"index": ((None, None, -1),)}, ((2, 3),), torch_says="step must be greater than zero"),
        Rejected({"index": (0, 0, 0, 0)}, ((2, 3, 4),), torch_says="too many indices"),
    )

    def _plan(self, x):
        """Per entry: ('int', in_dim) | ('slice', in_dim, start, length, step) | ('new',); then kept dims."""
        plan, d = [], 0
        used = sum(1 for i in self.index if i is not None)
        if used > len(x):
            raise ShapeError(f"index {list(self.index)} indexes {used} dims of a {len(x)}-D input",
                             argument="index", value=list(self.index))
        for i in self.index:
            if i is None:
                plan.append(("new",))
                continue
            size = x[d]
            if isinstance(i, int):
                if type(size) is not int:
                    if i < 0:
                        raise ShapeError(f"a negative index on dim {d} needs its size, got {size}",
                                         argument="index", value=i)
                    require_ge(size, i + 1, f"index {i} is out of bounds for dim {d} of size {size}",
                               argument="index", received=i)
                elif not -size <= i < size:
                    raise ShapeError(f"index {i} is out of bounds for dim {d} of size {size}",
                                     argument="index", value=i)
                plan.append(("int", d))
            else:
                start, stop, step = i
                step = 1 if step is None else step
                if step <= 0:
                    raise ShapeError(f"slice step must be positive, got {step}", argument="index", value=step)
                if start is None and stop is None:
                    lo, length = 0, ceildiv(size, step)
                elif type(size) is not int:
                    raise ShapeError(f"slicing dim {d} at {start}:{stop} needs its size, got {size}",
                                     argument="index", value=[start, stop, step])
                else:
                    lo, hi, _ = slice(start, stop, step).indices(size)
                    length = max(0, -(-(hi - lo) // step))
                plan.append(("slice", d, lo, length, step))
            d += 1
        return plan, d

    def split_part(self, x):
        """(dim, index, 1): this element of its unbind, on input shape x."""
        *full, last = self.index
        if not isinstance(last, int) or any(e != (None, None, None) for e in full):
            raise ShapeError(f"an Index with split is one element of an unbind: full slices, then one int; got "
                             f"{list(self.index)}", argument="split", value=self.split)
        self._plan(x)  # the int is in range
        d = len(full)
        return d, last % x[d] if type(x[d]) is int else last, 1

    def output_shape(self, inputs):
        x = inputs[0]
        if self.split is not None:
            self.split_part(x)
        plan, d = self._plan(x)
        out = []
        for p in plan:
            if p[0] == "new":
                out.append(1)
            elif p[0] == "slice":
                out.append(p[3])
        return tuple(out) + tuple(x[d:])

    def receptive_field(self, inputs, output):
        x = inputs[0]
        plan, d = self._plan(x)
        sources = tuple((p[1],) if p[0] == "slice" else () for p in plan if p[0] != "int")
        sources += tuple((i,) for i in range(d, len(x)))
        # per input dim: a slice's output index o reads input start + o * step; an int i reads i
        stride, padding = [1] * len(x), [0] * len(x)
        for p, entry in zip(plan, self.index):
            if p[0] == "slice":
                stride[p[1]], padding[p[1]] = p[4], -p[2]
            elif p[0] == "int":  # a negative index on a symbolic size was refused by _plan
                padding[p[1]] = -(entry % x[p[1]] if type(x[p[1]]) is int else entry)
        if all(s == 1 for s in stride) and all(p == 0 for p in padding):
            return Remap(sources)
        return Window(kernel=(1,) * len(x), stride=tuple(stride), padding=tuple(padding), sources=sources)
