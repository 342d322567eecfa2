"""Layer kinds grouped as the tools see them, and the shape arithmetic their rules share."""
from __future__ import annotations

from ..dims import prod


def ranks(*stems: str) -> tuple:
    return tuple(f"{s}{d}d" for s in stems for d in (1, 2, 3))


CONV = ranks("Conv")
CONV_TRANSPOSE = ranks("ConvTranspose")
BATCH_NORM = ranks("BatchNorm")
INSTANCE_NORM = ranks("InstanceNorm")
MAX_POOL = ranks("MaxPool")
AVG_POOL = ranks("AvgPool")
ADAPTIVE_AVG_POOL = ranks("AdaptiveAvgPool")
ADAPTIVE_MAX_POOL = ranks("AdaptiveMaxPool")
PADS = ranks("ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad")
DROPOUT = ("Dropout", "AlphaDropout", "FeatureAlphaDropout", "StochasticDepth") + ranks("Dropout")
# tensors moved or viewed, never computed on (no tool counts them)
DATA_MOVEMENT = ("Flatten", "Unflatten", "Permute", "Reshape", "Narrow", "Identity", "Concat", "Stack",
                 "Unsqueeze", "Squeeze", "Index", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle") + PADS
# outputs that may be strided views of their input (torch's permute, narrow), and views that keep that
STRIDED = ("Permute", "Narrow")
VIEWS = ("Identity", "Flatten", "Unflatten", "Reshape", "Squeeze", "Unsqueeze", "Index") + DROPOUT
ELEMENTWISE = ("Add", "Mul", "Sub", "Div", "Maximum", "Minimum", "ScalarArith", "UnaryOp", "LayerScale",
               "Affine")
ACTIVATIONS = ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
               "Hardswish", "Hardsigmoid", "Softmax", "LogSoftmax")


def elements(shape):
    return prod(shape)


def batch(seen):
    return seen.inputs[0][0]


def positions(shape):
    """Batch × spatial positions of an N, C, *spatial tensor."""
    return shape[0] * prod(shape[2:])
