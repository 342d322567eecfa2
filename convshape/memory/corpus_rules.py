"""Saved-tensor and temporaries rules of the kinds the import corpus added (issue 12): weight-
standardized convolutions (timm's StdConv, NF-Nets' ScaledStdConv), F.normalize and the native CPU
LSTM. Derived like rules.py's (torch 2.14 on CPU, saved_tensors_hooks with distinct storages, the
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
