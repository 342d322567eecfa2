"""The Layer model every layer kind derives from, and the registry that collects them.

A layer kind is one pydantic model: its fields are torch.nn's constructor arguments, and its
methods are its rules (output shape, parameters, buffers, MACs, other ops, backward MACs,
receptive field) and its torch builder. `@register` adds it to REGISTRY; registering a kind
twice raises, so there is one source of truth.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, Strict

from ..dims import Shape, prod, require_eq
from ..errors import ShapeError, SizeDependentError

REGISTRY: dict[str, type["Layer"]] = {}

# Field types shared by layer models: strict ints so `true` is never read as 1.
PosInt = Annotated[int, Strict(), Field(gt=0)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
Int = Annotated[int, Strict()]
Number = Annotated[float, Field(allow_inf_nan=False)]
IntOrTuple = PosInt | tuple[PosInt, ...]
NonNegIntOrTuple = NonNegInt | tuple[NonNegInt, ...]


def register(cls):
    """Class decorator: add a layer kind to the registry under its class name."""
    kind = cls.__name__
    if kind in REGISTRY:
        raise ValueError(f"layer kind {kind} is registered twice")
    cls.kind = kind
    REGISTRY[kind] = cls
    return cls


def register_ranks(base, ranks=(1, 2, 3), name: str | None = None, module: str | None = None):
    """Register `{name}{n}d` for each rank n from one base class (no file per rank)."""
    made = []
    stem = name or base.__name__.lstrip("_")
    for n in ranks:
        cls = type(f"{stem}{n}d", (base,), {"ndim": n, "__module__": module or base.__module__,
                                            "__doc__": base.__doc__})
        made.append(register(cls))
    return made


# ---------------------------------------------------------------- receptive-field operations
@dataclass(frozen=True)
class Pointwise:
    """Each output element depends on the input element at the same spatial position."""


@dataclass(frozen=True)
class Window:
    """A sliding window over the last len(kernel) dims.

    In input units: output index o reads input [o*stride - padding, o*stride - padding + kernel - 1].
    Transposed convolution and up-sampling have fractional strides (Fraction).
    `sources`, when given, then re-arranges the dims as Remap does (an index that drops or inserts dims);
    `whole`: dims every output element reads entirely (a convolution's input channels).
    """
    kernel: tuple
    stride: tuple
    padding: tuple
    sources: tuple | None = None
    whole: tuple = ()


@dataclass(frozen=True)
class GlobalOver:
    """Every output element sees the whole extent of these tensor dims (e.g. Linear, global pool).

    `sources`, when given, then re-arranges the dims as Remap does (a reduction that drops the dims
    it reduces: output dim j holds the input dims sources[j])."""
    dims: tuple
    sources: tuple | None = None


@dataclass(frozen=True)
class Remap:
    """A pure re-arrangement: output dim j holds the input dims sources[j] (permute, flatten, ...)."""
    sources: tuple


@dataclass(frozen=True)
class NoInputValues:
    """The output reads no input values, only the input's shape (a positional encoding): its field
    is empty (size 0), and a merge with other paths takes theirs."""


POINTWISE = Pointwise()


@dataclass
class Params:
    trainable: Any = 0
    frozen: Any = 0


class Layer(BaseModel):
    """Base of every layer kind. Subclasses override the rules that apply to them."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, arbitrary_types_allowed=False)

    kind: ClassVar[str] = ""
    family: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # Argument names that are inferred from the incoming tensor, and checked when written.
    inferred: ClassVar[tuple[str, ...]] = ()
    # torch.nn class name; None means a convshape.torch module of the same name.
    torch_class: ClassVar[str | None] = "same"
    # True for layers whose weight MACs have a backward pass (conv, linear).
    has_weight_macs: ClassVar[bool] = False
    # Worked configurations (layers/examples.py) checked against torch by tests/test_layer_contract.py.
    examples: ClassVar[tuple] = ()
    # Positions of inputs that read the argmax indices of the node named there (MaxUnpool's second),
    # not its values; that node must yield them (has_indices).
    index_inputs: ClassVar[tuple] = ()
    # Fields that torch takes in the module's forward, after the tensors (MaxUnpool's output_size).
    forward_args: ClassVar[tuple] = ()
    # True where torch calls the module on sizes read from a tensor (x.shape), which the spec's input is.
    shape_input: ClassVar[bool] = False

    # ---- inference of input-side sizes
    def infer(self, inputs: list[Shape]) -> dict:
        """Values of the `inferred` arguments for these input shapes."""
        return {}

    def check_inferred(self, inputs: list[Shape]) -> dict:
        values = self.infer(inputs)
        for name, value in values.items():
            written = getattr(self, name, None)
            if written is not None:
                require_eq(written, value,
                           f"{name}={written} but the input gives {value}", argument=name, received=written)
        return values

    # ---- rules (defaults describe a parameter-free, element-wise layer)
    def output_shape(self, inputs: list[Shape]) -> Shape:
        return tuple(inputs[0])

    def params(self, inputs: list[Shape]) -> Params:
        return Params()

    def buffers(self, inputs: list[Shape]) -> Any:
        return 0

    def macs(self, inputs: list[Shape], output: Shape) -> Any:
        return 0

    def other_ops(self, inputs: list[Shape], output: Shape) -> Any:
        """Arithmetic outside MACs; see docs/conventions.md for the per-kind table."""
        return 0

    def backward_macs(self, inputs: list[Shape], output: Shape, input_requires_grad: bool,
                      weight_requires_grad: bool = True) -> Any:
        """Weight-gradient (unless the weights are frozen) plus input-gradient (when the input needs
        it) MACs."""
        if not self.has_weight_macs:
            return 0
        m = self.macs(inputs, output)
        return (m if weight_requires_grad else 0) + (m if input_requires_grad else 0)

    def receptive_field(self, inputs: list[Shape], output: Shape):
        return POINTWISE

    def has_indices(self) -> bool:
        """True when the layer also yields int64 argmax indices of its output's shape."""
        return False

    # ---- torch bridge
    def torch_kwargs(self, inputs: list[Shape]) -> dict:
        """Constructor arguments for the torch module: written fields plus inferred ones."""
        kwargs = {k: v for k, v in self.model_dump(exclude_unset=False).items()}
        kwargs.update(self.infer(inputs))
        return kwargs

    def to_torch(self, inputs: list[Shape]):
        import torch.nn as nn  # torch is optional: only the bridge imports it
        if self.torch_class == "same":
            return getattr(nn, self.kind)(**self.torch_kwargs(inputs))
        from ..torch import modules
        return getattr(modules, self.torch_class or self.kind)(**self.torch_kwargs(inputs))

    # ---- helpers for subclasses
    def fail(self, message: str, argument: str | None = None, value=None):
        raise ShapeError(message, argument=argument, value=value)

    def written_args(self) -> dict:
        return self.model_dump(exclude_unset=True)


def ntuple(value, n: int, name: str) -> tuple:
    """Expand an int to an n-tuple; check a written tuple has n entries (torch's _ntuple)."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1 and n > 1:
            return tuple(value) * n
        if len(value) != n:
            raise ShapeError(f"{name} must have {n} entries, got {len(value)}", argument=name, value=value)
        return tuple(value)
    return (value,) * n


def numel(shape: Shape):
    return prod(shape)


def check_rank(layer: Layer, shape: Shape, ranks: tuple[int, ...], what: str = ""):
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"expects a {want}-D input{what}, got {len(shape)}-D", argument="input", value=list(shape))


def concrete_channels(shape: Shape, dim: int, what: str = "channel", written: int | None = None,
                      argument: str = "input"):
    """The size of a dim that sets parameter counts: it must be concrete.

    When it is symbolic but the spec writes the value (e.g. in_features: 2450), the written value
    is used and equality becomes a condition on the input (e.g. 50*floor(H/4)*floor(W/4) == 2450).
    """
    c = shape[dim]
    if type(c) is not int:
        if written is not None:
            require_eq(c, written, f"{argument}={written} requires the {what} dimension {c} to equal {written}",
                       argument=argument, received=written)
            return written
        raise SizeDependentError(f"the {what} dimension must be a number, got {c} (write {argument} to fix it)",
                         argument=argument, value=str(c))
    return c


def frac(x):
    return x if isinstance(x, Fraction) else Fraction(x)
