"""The Pad family: Zero/Constant/Reflection/Replication/Circular Pad 1d/2d/3d (torch.nn semantics).

`padding` is an int (both sides of each of the last ndim dims) or a tuple with an even number of
entries (left, right, top, bottom, front, back) starting from the LAST dim. As in torch, a tuple's
length, not the class's rank, decides how many trailing dims are padded: ZeroPad2d((1, 2)) pads
only the last dim, ReflectionPad1d((1, 1, 1, 1)) pads two. Negative entries crop.

Validity, as torch 2.14 checks it, for a padded dim of size L with pads (l, r):
  Zero / Constant  L + min(l, 0) + min(r, 0) >= 0 (torch narrows the input for negative pads, so an
                   empty output is allowed); at most 2 * rank entries.
  Reflection       l < L and r < L; every output size >= 0 and at least one of them >= 1.
  Replication      every output size >= 1.
  Circular         l <= L and r <= L (the padding wraps around at most once); with a crop, the
                   K = L + min(l, 0) + min(r, 0) values it leaves must be >= 1 and >= each positive
                   pad. Torch accepts some configurations outside that and returns uninitialized
                   memory, an empty tensor, or an overlapping self-copy its own guard refuses at
                   batch 1; convshape refuses them on purpose (docs/torch.md, "circular-undefined").
  Reflection, Replication and Circular pad 1 to 3 dims of an input with 1 or 2 more dims than
  that (F.pad); CircularPadNd also requires an (ndim+1)- or (ndim+2)-D input itself.

Costs: a pad copies, so other_ops = 0 (no MACs, parameters or buffers). Receptive field: output
position o reads input o - l (reflected, replicated or wrapped near the edges), a window of 1.
"""
from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, model_validator

from ..dims import dmax, require_ge
from ..errors import ShapeError
from .base import Int, Layer, Window, register_ranks
from .examples import Example, PerAxis, Rejected

Fill = Annotated[float, Field(allow_inf_nan=True)]  # -inf before a max pool is a common fill


class _PadNd(Layer):
    family: ClassVar[str] = "pad"
    ndim: ClassVar[int] = 2
    mode: ClassVar[str] = "constant"

    padding: Int | tuple[Int, ...]

    @model_validator(mode="after")
    def _torch_checks(self):
        if isinstance(self.padding, tuple):
            if len(self.padding) % 2:
                raise ValueError(f"padding must have an even number of entries (left, right, ...), got {len(self.padding)}")
            if self.mode != "constant" and len(self.padding) // 2 not in (1, 2, 3):
                raise ValueError(f"{self.mode} padding pads 1 to 3 dims (2, 4 or 6 entries), got {len(self.padding)}")
        return self

    def pairs(self) -> list:
        """(left, right) per padded dim, the last dim first (torch's order)."""
        p = self.padding
        flat = (p,) * (2 * self.ndim) if isinstance(p, int) else p
        return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    def check_rank(self, x, m: int):
        if self.mode == "constant":
            if m > len(x):
                raise ShapeError(f"padding {list(self._flat())} pads {m} dims of a {len(x)}-D input",
                                 argument="padding", value=list(self._flat()))
            return
        if len(x) not in (m + 1, m + 2):
            raise ShapeError(f"{self.mode} padding of {m} dim(s) needs a {m + 1}-D or {m + 2}-D input, got {len(x)}-D",
                             argument="padding", value=list(self._flat()))

    def _flat(self):
        return tuple(x for pair in self.pairs() for x in pair)

    def output_shape(self, inputs):
        x = inputs[0]
        pairs = self.pairs()
        self.check_rank(x, len(pairs))
        out = list(x)
        sizes = []
        for i, (left, right) in enumerate(pairs):
            dim = len(x) - 1 - i
            size = x[dim] + left + right
            self.check_dim(x[dim], left, right, size, dim)
            out[dim] = size
            sizes.append(size)
        if self.mode == "reflect":
            largest = sizes[0]
            for size in sizes[1:]:
                largest = dmax(largest, size)
            require_ge(largest, 1, lambda: f"padding {list(self._flat())} leaves every padded dim empty "
                       f"(output sizes {[str(d) for d in reversed(sizes)]})",
                       argument="padding", received=list(self._flat()))
        return tuple(out)

    # Per-dim limits of the modes (module docstring): each pad at most L - pad_margin (None: no
    # limit), each output size at least min_size. Constant mode has its own rule (check_dim below).
    pad_margin: ClassVar[int | None] = None
    too_much: ClassVar[str] = ""
    min_size: ClassVar[int] = 0

    def check_dim(self, L, left, right, size, dim):
        def message(text):
            return lambda: f"{text} on dim {dim} of size {L} with padding ({left}, {right})"
        if self.pad_margin is not None:
            for side in (left, right):
                require_ge(L - self.pad_margin, side, message(self.too_much), argument="padding",
                           received=[left, right])
        require_ge(size, self.min_size, message(f"output size {size} below {self.min_size}"), argument="padding",
                   received=[left, right])

    def receptive_field(self, inputs, output):
        lefts = tuple(left for left, _ in reversed(self.pairs()))
        m = len(lefts)
        return Window(kernel=(1,) * m, stride=(1,) * m, padding=lefts)


# Examples shared by every mode; each mode adds its own limits.
_COMMON = (
    Example({"padding": 2}, ((2, 3, PerAxis(5, 4, 3)),)),
    Example({"padding": 1}, ((3, PerAxis(4, 4, 2)),), note="unbatched"),
    Example({"padding": -1}, ((1, 2, PerAxis(5, 4, 3)),), note="negative padding crops"),
    Example({"padding": PerAxis((1, 2), (0, 3), (2, 0))}, ((2, 3, PerAxis(4, 5, 6)),)),
    Rejected({"padding": (1, 1, 1)}, ((2, 3, PerAxis(5, 5, 5)),), torch_says="divisible by 2"),
)


class _FillPadNd(_PadNd):
    """Constant-mode padding: negative padding crops, down to an empty dim."""

    def check_dim(self, L, left, right, size, dim):
        # torch narrows the input for the negative pads first, so the crops alone must fit
        require_ge(L + min(left, 0) + min(right, 0), 0,
                   lambda: f"cropping more than the input on dim {dim} of size {L} with padding ({left}, {right})",
                   argument="padding", received=[left, right])


_FILL_EXAMPLES = _COMMON + (
    Example({"padding": (1, 2)}, ((2, 3, 4, 4, 4),), note="a 2-entry tuple pads the last dim only"),
    Example({"padding": (1, 1, 1, 1, 1, 1)}, ((2, 3, 4),), note="pads the batch dim too"),
    # the last dim: 5 - 3 - 2 = 0, torch returns an empty dim
    Example({"padding": PerAxis((-3, -2), (1, 0), (0, 2))}, ((1, 2, PerAxis(5, 5, 5)),)),
    Example({"padding": (6, -2)}, ((2, 3, 5),), note="crop after padding: 5 + 6 - 2 = 9"),
    Rejected({"padding": (-6, 1)}, ((2, 3, 5),), torch_says="narrow"),
    Rejected({"padding": (1, -6)}, ((2, 3, 5),), torch_says="narrow", note="output 0, but torch crops 6 of 5 first"),
    Rejected({"padding": (1,) * 8}, ((2, 3, 5),), torch_says="two times the input dimension"),
)


class _ZeroPadNd(_FillPadNd):
    """Pads trailing dims with zeros; padding runs (left, right, top, ...) from the last dim, negative crops."""

    examples: ClassVar[tuple] = _FILL_EXAMPLES


class _ConstantPadNd(_FillPadNd):
    """Pads trailing dims with `value`; padding runs (left, right, top, ...) from the last dim, negative crops."""

    model_config = ConfigDict(ser_json_inf_nan="constants")  # JSON keeps -inf as -Infinity

    value: Fill

    examples: ClassVar[tuple] = tuple(type(e)(**{**e.__dict__, "args": {**e.args, "value": 0.5}})
                                      for e in _FILL_EXAMPLES) + (
        Example({"padding": 1, "value": float("-inf")}, ((1, 2, PerAxis(3, 3, 3)),), note="-inf before a max pool"),
    )


class _ReflectionPadNd(_PadNd):
    """Pads with the reflection about the edge (edge not repeated); each pad < input size, negative crops."""

    mode: ClassVar[str] = "reflect"
    pad_margin: ClassVar[int | None] = 1
    too_much: ClassVar[str] = "reflect padding must be smaller than the input size"

    examples: ClassVar[tuple] = _COMMON + (
        Example({"padding": 4}, ((2, 3, PerAxis(5, 5, 5)),), note="largest: padding < input size"),
        Example({"padding": (-7, 3)}, ((2, 3, 5),), note="5 - 7 + 3 = 1"),
        Example({"padding": (-5, 0, 0, 0)}, ((2, 3, 5, 5),), note="one dim may end up empty",
                meta_says="must be >= 1 in every dimension"),
        Example({"padding": (1, 1, 1, 1)}, ((2, 3, 5, 5),), note="the tuple decides the padded dims"),
        Rejected({"padding": 5}, ((2, 3, PerAxis(5, 5, 5)),), torch_says="Padding size should be less than"),
        Rejected({"padding": (1, 0)}, ((2, 3, 1),), torch_says="Padding size should be less than"),
        Rejected({"padding": (-5, 0, -5, 0)}, ((2, 3, 5, 5),), torch_says="too small"),
        Rejected({"padding": (0, -5)}, ((2, 3, 5),), torch_says="too small"),
        Rejected({"padding": 1}, ((1, 2, 3, PerAxis(5, 5, 5)),), torch_says="not supported"),
        Rejected({"padding": (1,) * 8}, ((2, 3, 5, 5, 5),), torch_says="not supported"),
    )


class _ReplicationPadNd(_PadNd):
    """Pads by repeating the edge value, any amount; negative padding crops (outputs stay >= 1)."""

    mode: ClassVar[str] = "replicate"
    min_size: ClassVar[int] = 1

    examples: ClassVar[tuple] = _COMMON + (
        Example({"padding": 6}, ((2, 3, PerAxis(5, 4, 3)),), note="padding may exceed the input size"),
        Example({"padding": (6, -2)}, ((2, 3, 5),)),
        Example({"padding": (-7, 3)}, ((2, 3, 5),), note="5 - 7 + 3 = 1"),
        Rejected({"padding": (0, -5)}, ((2, 3, 5),), torch_says="too small"),
        Rejected({"padding": (-5, 0, 0, 0)}, ((2, 3, 5, 5),), torch_says="must be >= 1 in every dimension"),
        Rejected({"padding": 1}, ((PerAxis(5, 5, 5),),), torch_says="not supported"),
    )


class _CircularPadNd(_PadNd):
    """Pads by wrapping the input around (periodic), at most once: each pad <= the input size, or <= what a crop leaves."""

    mode: ClassVar[str] = "circular"
    pad_margin: ClassVar[int | None] = 0
    too_much: ClassVar[str] = "circular padding wraps around more than once"

    examples: ClassVar[tuple] = _COMMON + (
        Example({"padding": 5}, ((2, 3, PerAxis(5, 5, 5)),), note="padding = input size wraps exactly once"),
        Example({"padding": PerAxis((-2, -2), (1, 0), (0, 0))}, ((2, 3, PerAxis(5, 5, 5)),), note="5 - 2 - 2 = 1"),
        Example({"padding": PerAxis((-4, 1), (0, 0), (0, 0))}, ((2, 3, PerAxis(5, 5, 5)),), note="5 - 4 + 1 = 2"),
        Example({"padding": PerAxis((3, -2), (0, 0), (0, 0))}, ((2, 1, PerAxis(5, 5, 5)),), note="the pad 3 = the 3 kept"),
        # cropping 7 of 6 wraps ATen's slice bounds: the copies no longer line up
        Rejected({"padding": PerAxis((-7, 3), (0, 0), (0, 0))}, ((2, 3, PerAxis(6, 6, 6)),),
                 torch_says="doesn't match the broadcast shape"),
        Rejected({"padding": 6}, ((2, 3, PerAxis(5, 5, 5)),), torch_says="wrapping around more than once"),
        Rejected({"padding": -3}, ((2, 3, PerAxis(5, 5, 5)),), torch_says="empty dimension"),
        Rejected({"padding": 1}, ((1, 2, 3, PerAxis(5, 5, 5)),), torch_says="expected .*D input"),
    )

    def check_rank(self, x, m: int):
        if len(x) not in (self.ndim + 1, self.ndim + 2):
            raise ShapeError(f"expects a {self.ndim + 1}-D or {self.ndim + 2}-D input, got {len(x)}-D",
                             argument="input", value=list(x))
        super().check_rank(x, m)

    def output_shape(self, inputs):
        """Beyond the per-dim rule: a crop must leave K >= 1 values, and each positive pad must be at
        most K. Torch's _pad_circular copies the margins from the output's own middle, so outside
        this it reads uninitialized memory (NaN under torch.utils.deterministic.fill_uninitialized_memory)
        or copies a view onto an overlapping view of itself, which it refuses only when it can detect
        it (every dim before has size 1). Measured against torch 2.14 on 74,283 configurations
        (docs/torch.md; tests/test_circular_pad.py). One linear condition per dim: symbolic = concrete."""
        out = super().output_shape(inputs)
        x = inputs[0]
        for i, (left, right) in enumerate(self.pairs()):
            if min(left, right) >= 0:
                continue  # no crop: K = L, and the per-dim rule already bounds the pads by L
            d = len(x) - 1 - i
            L = x[d]
            kept = L + min(left, 0) + min(right, 0)
            need = max(1, left, right)
            require_ge(kept, need, lambda d=d, L=L, kept=kept, need=need, pads=[left, right]: (
                f"padding {pads} on dim {d} (size {L}): the crop leaves {kept} value(s) to wrap around, circular "
                f"padding needs at least {need} (one, and as many as the larger pad; torch would read "
                f"uninitialized memory)"),
                argument="padding", received=[left, right])
        return out


ZeroPad1d, ZeroPad2d, ZeroPad3d = register_ranks(_ZeroPadNd, name="ZeroPad")
ConstantPad1d, ConstantPad2d, ConstantPad3d = register_ranks(_ConstantPadNd, name="ConstantPad")
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = register_ranks(_ReflectionPadNd, name="ReflectionPad")
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = register_ranks(_ReplicationPadNd, name="ReplicationPad")
CircularPad1d, CircularPad2d, CircularPad3d = register_ranks(_CircularPadNd, name="CircularPad")
