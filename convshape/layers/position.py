"""Positional encodings computed from the input's shape alone (timm's EdgeNeXt).

PositionalEncodingFourier (timm.models.edgenext): for an input (B, C, H, W) it builds, per position,
the normalized row and column index y/H and x/W (cumsums of a ones mask, times 2*pi), divides each
by hidden_dim frequencies temperature ** (2 * (i // 2) / hidden_dim), takes sin of the even and cos
of the odd ones (2 * hidden_dim features), and projects them with a 1x1 Conv2d(2 * hidden_dim, dim):
output (B, dim, H, W). It reads no input values, only B, H and W (timm calls it with that tuple).
"""
from __future__ import annotations

from typing import ClassVar

from ..dims import prod
from .base import Layer, NoInputValues, Number, Params, PosInt, check_rank, register
from .examples import Example, Rejected

EDGENEXT = "timm.models.edgenext"
NO_INPUT_VALUES = NoInputValues()


@register
class PositionalEncodingFourier(Layer):
    """timm EdgeNeXt's Fourier positional encoding, (B, C, H, W) -> (B, dim, H, W) from the shape alone.

    A 1x1 convolution of 2 * hidden_dim sin/cos features of each position; hidden_dim must be even."""

    family: ClassVar[str] = "position"
    torch_class: ClassVar[str | None] = None
    torch_module: ClassVar[str] = EDGENEXT
    has_weight_macs: ClassVar[bool] = True
    shape_input: ClassVar[bool] = True  # timm calls it on (B, H, W), read from the tokens' x.shape

    hidden_dim: PosInt = 32
    dim: PosInt = 768
    temperature: Number = 10000.0

    examples: ClassVar[tuple] = (
        Example({"hidden_dim": 4, "dim": 6}, ((2, 3, 5, 7),), note="dim differs from the input's channels"),
        Example({"hidden_dim": 2, "dim": 8, "temperature": 100.0}, ((1, 8, 4, 4),)),
        Rejected({"hidden_dim": 3, "dim": 8}, ((1, 8, 4, 4),), torch_says="stack expects each tensor to be equal size"),
    )

    @classmethod
    def args_from_module(cls, m) -> dict:
        return {"hidden_dim": m.hidden_dim, "dim": m.dim, "temperature": float(m.temperature)}

    def output_shape(self, inputs):
        x = inputs[0]
        check_rank(self, x, (4,))
        if self.hidden_dim % 2:  # torch.stack of the even (sin) and odd (cos) features needs equal halves
            self.fail(f"hidden_dim={self.hidden_dim} is odd: its sin and cos halves differ in size",
                      "hidden_dim", self.hidden_dim)
        return (x[0], self.dim, x[2], x[3])

    def params(self, inputs):
        return Params(trainable=2 * self.hidden_dim * self.dim + self.dim)  # token_projection's weight, bias

    def macs(self, inputs, output):
        return prod(output) * 2 * self.hidden_dim  # the 1x1 projection: B*H*W * 2h * dim

    def other_ops(self, inputs, output):
        b, _, h, w = inputs[0]
        n, k = b * h * w, self.hidden_dim
        cumsums = (n - b * w) + (n - b * h)  # running sums down each column and along each row
        normalize = b * w + b * h + 4 * n    # + eps to each last sum; divide by it and * 2pi, both axes
        frequencies = 4 * k                  # i // 2, * 2, / hidden_dim, temperature ** that
        features = 4 * n * k                 # position / frequency, then sin or cos, both axes
        return cumsums + normalize + frequencies + features + prod(output)  # + the projection's bias

    def backward_macs(self, inputs, output, input_requires_grad, weight_requires_grad=True):
        # the projection's weight gradient only: its input, the sin/cos features, needs no gradient
        return self.macs(inputs, output) if weight_requires_grad else 0

    def receptive_field(self, inputs, output):
        return NO_INPUT_VALUES  # an empty field: the term it adds does not widen the tokens'
