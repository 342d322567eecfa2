"""Recurrent layers: LSTM (torch.nn.LSTM; its output sequence, element 0 of the tuple torch returns).

Per layer and direction, with H = hidden_size, P = proj_size or H (the state fed back) and I the
layer's input features (input_size, then directions x P): params 4H x I + 4H x P (+ 8H biases, +
P x H projection); MACs per sequence step and batch element 4H x (I + P) (+ P x H), as
FlopCounterMode counts the gate and projection products; other_ops per step, batch element and
direction: 4H gate sums, 8H bias adds, 4H gate activations, 3H for the cell update (two multiplies,
an add), 2H for h = o x tanh(c). Receptive field: global over the sequence (an upper bound for a
one-directional LSTM, whose step t reads steps 0..t only).
"""
from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from ..dims import prod
from .base import GlobalOver, Layer, NonNegInt, Params, PosInt, check_rank, concrete_channels, register
from .dropout import Probability
from .examples import Example, Rejected


@register
class LSTM(Layer):
    """torch.nn.LSTM's output: (L, N, D x P), (N, L, D x P) with batch_first, or unbatched (L, D x P)."""

    family: ClassVar[str] = "recurrent"
    inferred: ClassVar[tuple] = ("input_size",)
    has_weight_macs: ClassVar[bool] = True
    torch_class: ClassVar[str | None] = None

    hidden_size: PosInt
    num_layers: PosInt = 1
    bias: bool = True
    batch_first: bool = False
    dropout: Probability = 0.0
    bidirectional: bool = False
    proj_size: NonNegInt = 0
    input_size: PosInt | None = None

    examples: ClassVar[tuple] = (
        Example({"hidden_size": 16, "batch_first": True, "bidirectional": True}, ((2, 5, 8),),
                note="Sequencer2D's vertical and horizontal LSTMs"),
        Example({"hidden_size": 6, "num_layers": 2, "proj_size": 3}, ((4, 2, 5),), note="stacked, projected"),
        Example({"hidden_size": 4, "bias": False}, ((7, 3),), note="unbatched"),
        Rejected({"hidden_size": 4, "input_size": 5}, ((2, 3, 6),), torch_says="input.size\\(-1\\) must be equal"),
    )

    @model_validator(mode="after")
    def _torch_checks(self):
        if self.proj_size >= self.hidden_size and self.proj_size:
            raise ValueError(f"proj_size={self.proj_size} has to be smaller than hidden_size={self.hidden_size}")
        return self

    def infer(self, inputs):
        x = inputs[0]
        check_rank(self, x, (2, 3))
        return {"input_size": concrete_channels(x, len(x) - 1, "feature", self.input_size, "input_size")}

    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def state(self) -> int:
        return self.proj_size or self.hidden_size

    def layer_inputs(self, inputs) -> list:
        first = self.infer(inputs)["input_size"]
        return [first] + [self.directions() * self.state()] * (self.num_layers - 1)

    def output_shape(self, inputs):
        x = inputs[0]
        self.infer(inputs)
        return tuple(x[:-1]) + (self.directions() * self.state(),)

    def params(self, inputs):
        h, p = self.hidden_size, self.state()
        per = [4 * h * i + 4 * h * p + (8 * h if self.bias else 0) + (p * h if self.proj_size else 0)
               for i in self.layer_inputs(inputs)]
        return Params(trainable=self.directions() * sum(per))

    def steps(self, inputs):
        """Sequence steps x batch elements: every position of the input but its features."""
        return prod(inputs[0][:-1])

    def macs(self, inputs, output):
        h, p = self.hidden_size, self.state()
        per = [4 * h * (i + p) + (p * h if self.proj_size else 0) for i in self.layer_inputs(inputs)]
        return self.steps(inputs) * self.directions() * sum(per)

    def other_ops(self, inputs, output):
        h = self.hidden_size
        return self.steps(inputs) * self.directions() * self.num_layers * h * (13 + (8 if self.bias else 0))

    def receptive_field(self, inputs, output):
        seq = 1 if self.batch_first and len(inputs[0]) == 3 else 0
        return GlobalOver(dims=(seq, len(inputs[0]) - 1))
