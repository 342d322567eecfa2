"""Element-wise activations and Softmax/LogSoftmax: shape-preserving, any rank.

other_ops: one per element for the element-wise functions (however many instructions the function
takes), three per element for Softmax/LogSoftmax (exp, sum, divide / subtract-log).
"""
from __future__ import annotations

from typing import ClassVar, Literal

from ..dims import prod, require_eq
from ..errors import ShapeError
from .base import GlobalOver, Int, Layer, Number, Params, PosInt, register
from .examples import Example, Rejected


class _Activation(Layer):
    """Element-wise: output shape = input shape; other_ops = one per element."""

    family: ClassVar[str] = "activation"

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 4, 5),)),
        Example({}, ((7,),), note="any rank"),
    )

    def other_ops(self, inputs, output):
        return prod(output)


def _act(name: str, doc: str, fields: dict | None = None, examples: tuple = ()):
    ns = {"__doc__": doc, "__module__": __name__, "__annotations__": {},
          "examples": _Activation.examples + examples}
    for fname, (ftype, default) in (fields or {}).items():
        ns["__annotations__"][fname] = ftype
        ns[fname] = default
    return register(type(name, (_Activation,), ns))


ReLU = _act("ReLU", "max(0, x).", {"inplace": (bool, False)}, (Example({"inplace": True}, ((2, 3),)),))
ReLU6 = _act("ReLU6", "min(max(0, x), 6).", {"inplace": (bool, False)})
LeakyReLU = _act("LeakyReLU", "x if x > 0 else negative_slope * x.",
                 {"negative_slope": (Number, 0.01), "inplace": (bool, False)},
                 (Example({"negative_slope": 0.2}, ((1, 4, 3),)),))
ELU = _act("ELU", "Exponential linear unit.", {"alpha": (Number, 1.0), "inplace": (bool, False)},
           (Example({"alpha": -1.0}, ((2, 3),)),))
GELU = _act("GELU", "Gaussian error linear unit.", {"approximate": (Literal["none", "tanh"], "none")},
            (Example({"approximate": "tanh"}, ((2, 3),)),
             Rejected({"approximate": "erf"}, ((2, 3),), torch_says="approximate argument must be either none or tanh")))
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

    examples: ClassVar[tuple] = (Example({}, ((2, 3, 5),)),)


@register
class PReLU(_Activation):
    """Leaky ReLU with learned slope: num_parameters is 1 or the channel count.

    torch's channel dim is dim 1; an input with fewer than 2 dims has 1 channel.
    """

    num_parameters: PosInt = 1
    init: Number = 0.25

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 4),)),
        Example({"num_parameters": 3, "init": 0.1}, ((2, 3, 5),)),
        Example({"num_parameters": 3}, ((5, 3),)),
        Rejected({"num_parameters": 3}, ((2, 4, 5),), torch_says="Mismatch of parameter numbers"),
        Rejected({"num_parameters": 3}, ((3,),), torch_says="Mismatch of parameter numbers"),
    )

    def output_shape(self, inputs):
        x = inputs[0]
        if self.num_parameters != 1:
            c = x[1] if len(x) >= 2 else 1
            require_eq(c, self.num_parameters, lambda: f"num_parameters={self.num_parameters} but the input has "
                       f"{c} channels (dim 1)", argument="num_parameters", received=self.num_parameters)
        return tuple(x)

    def params(self, inputs):
        return Params(trainable=self.num_parameters)


class _SoftmaxBase(Layer):
    """Along `dim`; without one, torch picks dim 0 for 0-, 1- and 3-D inputs and dim 1 otherwise."""

    family: ClassVar[str] = "activation"

    dim: Int | None = None

    examples: ClassVar[tuple] = (
        Example({"dim": 1}, ((2, 10),)),
        Example({"dim": -1}, ((2, 3, 4),)),
        Example({}, ((2, 3, 4),), note="implicit dim 0"),
        Example({}, ((2, 3, 4, 5),), note="implicit dim 1"),
        Rejected({"dim": 3}, ((2, 3, 4),), torch_says="Dimension out of range"),
    )

    def reduced_dim(self, rank: int) -> int:
        if self.dim is None:
            return 0 if rank in (0, 1, 3) else 1  # torch.nn.functional._get_softmax_dim
        return self.dim % rank

    def output_shape(self, inputs):
        x = inputs[0]
        if self.dim is not None and not -len(x) <= self.dim < len(x):
            raise ShapeError(f"dim={self.dim} is out of range for a {len(x)}-D input", argument="dim", value=self.dim)
        return tuple(x)

    def other_ops(self, inputs, output):
        return 3 * prod(output)  # exp, sum, divide (LogSoftmax: exp, sum, subtract-log)

    def receptive_field(self, inputs, output):
        return GlobalOver(dims=(self.reduced_dim(len(inputs[0])),))


@register
class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) along `dim`."""


@register
class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along `dim`."""
