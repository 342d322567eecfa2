"""Saved-tensor and temporaries rules of the kinds the import corpus added (issue 12): weight-
standardized convolutions (timm's StdConv, NF-Nets' ScaledStdConv), F.normalize, timm EdgeNeXt's
PositionalEncodingFourier and the native CPU LSTM. Derived like rules.py's (torch 2.14 on CPU, saved_tensors_hooks with distinct storages, the
live-storage tracker) and checked by tests/test_memory_contract.py on every example and variant.
"""
from __future__ import annotations

from ..dims import prod
from .rules import NOTHING, Grads, Saved, _conv, acc_width, during, ranks, saves


def _standardized_bytes(layer, inputs, width):
    return layer.weight_numel(inputs) * width


@saves(*ranks("StdConv"))
def _std_conv(layer, inputs, output, grads, width):
    # the convolution keeps its input (as Conv) and the standardized weight, a new tensor, whichever
    # needs a gradient; F.batch_norm on the weight (a parameter) keeps, when it needs gradients, its
    # mean and inverse std and its weight argument, timm's gain * scale (a new tensor, one per channel)
    conv = _conv(layer, inputs, output, Grads(grads.inputs, True, grads.training), width)
    o = layer.out_channels
    stats = (2 * o * acc_width(width),) + ((o * width,) if layer.gain else ()) if grads.weight else ()
    return Saved(inputs=conv.inputs, extra=conv.extra + (_standardized_bytes(layer, inputs, width),) + stats)


@during(*ranks("StdConv"))
def _std_conv_temporaries(layer, inputs, output, width, training):
    # the standardized weight lives through the convolution: beside gain * scale and batch_norm's two
    # statistics per channel before the output exists, beside F.pad's copy and the output after
    padded = sum(_conv(layer, inputs, output, Grads((False,), True, training), width).extra)
    o = layer.out_channels
    before = o * width * layer.gain + 2 * o * acc_width(width) - width * prod(output)
    return _standardized_bytes(layer, inputs, width) + max(padded, before)


def _vectors(layer, x):
    axis = layer.axis(x)
    return prod(s for d, s in enumerate(x) if d != axis)


@saves("Normalize")
def _normalize(layer, inputs, output, grads, width):
    # x / norm(x).clamp_min(eps): the norm keeps x and its result, the division the clamped norm
    v = _vectors(layer, inputs[0]) * width
    return Saved(inputs=(0,), extra=(v, v)) if grads.inputs[0] else NOTHING


@during("Normalize")
def _normalize_temporaries(layer, inputs, output, width, training):
    return _vectors(layer, inputs[0]) * width   # the clamped norm, one per vector, beside the quotient


def _fourier(layer, inputs):
    """(B*H*W positions, hidden_dim) of EdgeNeXt's positional encoding; it reads its input's shape only."""
    b, _, h, w = inputs[0]
    return b * h * w, layer.hidden_dim


@saves("PositionalEncodingFourier")
def _fourier_position(layer, inputs, output, grads, width):
    # the projection keeps its input, the 2 * hidden_dim features cast to the weight's dtype (a new
    # tensor; in float32 the permuted cat itself); nothing needs a gradient when the weight is frozen
    n, k = _fourier(layer, inputs)
    return Saved(extra=(2 * n * k * width,)) if grads.weight else NOTHING


@during("PositionalEncodingFourier")
def _fourier_position_temporaries(layer, inputs, output, width, training):
    # timm's locals live to the return: the bool mask (1 B a position), the row and column embeds and
    # dim_t (float32 whatever the weight's dtype), both axes' interleaved features (2 * n * k floats)
    # and their cat (2 * n * k), plus the cast to a weight dtype other than float32 during the projection
    n, k = _fourier(layer, inputs)
    cast = 2 * n * k * width if width != 4 else 0
    return 9 * n + 4 * k + 16 * n * k + cast


# ---------------------------------------------------------------- not modelled, by name
# measured on CPU: without proj_size torch runs oneDNN's LSTM (MkldnnRnnLayer), which keeps an opaque
# uint8 workspace of oneDNN's choosing (28,672 B for both a 16-unit bidirectional and a 4-unit LSTM)
# and its reordered weights; with proj_size the per-step composite cells; CUDA runs cuDNN with its
# reserve space: the saved set and the forward's temporaries depend on the backend
BACKEND_DEPENDENT = ("LSTM",)


@saves(*BACKEND_DEPENDENT)
def _backend_rnn(layer, inputs, output, grads, width):
    return None


@during(*BACKEND_DEPENDENT)
def _backend_rnn_temporaries(layer, inputs, output, width, training):
    return None
