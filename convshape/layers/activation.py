"""Element-wise activations and Softmax/LogSoftmax: shape-preserving, one op per element."""
from __future__ import annotations

from typing import ClassVar, Literal

from ..dims import prod
from ..errors import ShapeError
from .base import GlobalOver, Int, Layer, Number, Params, PosInt, register


class _Activation(Layer):
    """Element-wise: output shape = input shape; other_ops = one per element."""

    family: ClassVar[str] = "activation"

    def other_ops(self, inputs, output):
        return prod(output)


def _act(name: str, doc: str, fields: dict | None = None):
    ns = {"__doc__": doc, "__module__": __name__, "__annotations__": {}}
    for fname, (ftype, default) in (fields or {}).items():
        ns["__annotations__"][fname] = ftype
        ns[fname] = default
    return register(type(name, (_Activation,), ns))


ReLU = _act("ReLU", "max(0, x).", {"inplace": (bool, False)})
ReLU6 = _act("ReLU6", "min(max(0, x), 6).", {"inplace": (bool, False)})
LeakyReLU = _act("LeakyReLU", "x if x > 0 else negative_slope * x.",
                 {"negative_slope": (Number, 0.01), "inplace": (bool, False)})
ELU = _act("ELU", "Exponential linear unit.", {"alpha": (Number, 1.0), "inplace": (bool, False)})
GELU = _act("GELU", "Gaussian error linear unit.", {"approximate": (Literal["none", "tanh"], "none")})
SiLU = _act("SiLU", "x * sigmoid(x) (swish).", {"inplace": (bool, False)})
Mish = _act("Mish", "x * tanh(softplus(x)).", {"inplace": (bool, False)})
Sigmoid = _act("Sigmoid", "1 / (1 + exp(-x)).")
Tanh = _act("Tanh", "tanh(x).")
Hardswish = _act("Hardswish", "x * relu6(x + 3) / 6.", {"inplace": (bool, False)})
Hardsigmoid = _act("Hardsigmoid", "relu6(x + 3) / 6.", {"inplace": (bool, False)})


@register
class Identity(Layer):
    """Passes its input through; no arithmetic."""

    family: ClassVar[str] = "activation"


@register
class PReLU(_Activation):
    """Leaky ReLU with learned slope: num_parameters is 1 or the channel count (dim 1)."""

    num_parameters: PosInt = 1
    init: Number = 0.25

    def output_shape(self, inputs):
        x = inputs[0]
        if self.num_parameters != 1:
            c = x[1] if len(x) >= 2 else x[0]
            if c != self.num_parameters:
                raise ShapeError(f"num_parameters={self.num_parameters} but the input has {c} channels",
                                 argument="num_parameters", value=self.num_parameters)
        return tuple(x)

    def params(self, inputs):
        return Params(trainable=self.num_parameters)


class _SoftmaxBase(Layer):
    family: ClassVar[str] = "activation"

    dim: Int | None = None

    def output_shape(self, inputs):
        x = inputs[0]
        if self.dim is not None and not -len(x) <= self.dim < len(x):
            raise ShapeError(f"dim={self.dim} is out of range for a {len(x)}-D input", argument="dim", value=self.dim)
        return tuple(x)

    def other_ops(self, inputs, output):
        return 3 * prod(output)  # exp, sum, divide (LogSoftmax: exp, sum, subtract-log)

    def receptive_field(self, inputs, output):
        if self.dim is None:
            return GlobalOver(dims=tuple(range(len(inputs[0]))))
        return GlobalOver(dims=(self.dim % len(inputs[0]),))


@register
class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) along `dim`."""


@register
class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along `dim`."""
