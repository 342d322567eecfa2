"""Train-mode temporaries convshape does not model, bounded, so a training figure they could change
is named instead of silently low (docs/memory.md, "What is not modelled").

Measured on every example of every kind behind a trainable layer (tests/test_memory_training_contract.py):
the kinds listed here differ from the live-storage tracker in their forward (train mode) or backward,
by at most FACTOR x the larger of their input and output bytes (+ SLACK_BYTES). Where a layer with
that margin added could reach the step's peak, training_step names it; where it cannot, the peak
stands exact. A kind with no bound (None: attention kinds, whose temporaries grow with tokens², LSTM,
a convolution padding by copying) is always named.
"""
from __future__ import annotations

from ..dims import prod

SLACK_BYTES = 16   # an in-place dropout's 4-byte scalars: a constant, not a multiple
FACTOR = {
    "AlphaDropout": 1.5, "FeatureAlphaDropout": 1.0, "Dropout": 0.5, "Dropout1d": 0.5, "Dropout2d": 0.5,
    "Dropout3d": 0.5, "FrozenBatchNorm2d": 2.0, "ParamArith": 6.0, "ScalarArith": 3.0,
    "StdConv1d": 2.0, "StdConv2d": 2.0, "StdConv3d": 2.0,
    "CircularPad1d": 2.5, "CircularPad2d": 2.5, "CircularPad3d": 2.5, "PatchMerging": 3.0, "PatchMergingV2": 3.0,
    "LPPool1d": 7.0, "LPPool2d": 7.0, "LPPool3d": 7.0, "LocalResponseNorm": 9.0,
    "PositionalEncodingFourier": None, "MultiheadAttention": None, "RelativePositionalMultiHeadAttention": None,
    "ShiftedWindowAttention": None, "ShiftedWindowAttentionV2": None, "ShiftedWindowAttention3d": None,
    "LSTM": None,
}
PADDED_CONV = frozenset({"Conv1d", "Conv2d", "Conv3d"})


def unmodelled(node) -> bool:
    """Whether the layer's train-mode temporaries are not (all) modelled."""
    layer = node.layer
    if node.kind in PADDED_CONV:   # padded by F.pad first: a padding mode, or an asymmetric 'same'
        return layer.padding_mode != "zeros" or any(lo != hi for lo, hi in layer.pads())
    if node.kind == "ScalarArith":   # rdiv's train-mode forward (value / x) makes more than reciprocal(x)
        return layer.op == "rdiv"
    if node.kind == "ParamArith":    # training.py models add, sub and an untabled mul
        return layer.table is not None or layer.op not in ("add", "sub", "rsub", "mul")
    return node.kind in FACTOR


def bound(node, shapes, width):
    """Bytes the layer's unmodelled temporaries may add at its forward or backward, or None (no bound)."""
    if node.kind in PADDED_CONV:
        return None   # F.pad's copy and its backward: sized by the padding, not by the input or output
    factor = FACTOR[node.kind]
    if factor is None:
        return None
    largest = max([prod(shapes[i]) for i in node.inputs] + [prod(shapes[node.name])])
    return int(factor * largest * width) + SLACK_BYTES


def could_reach(network, shapes, width, peak, resident, forward_live, backward_now) -> list:
    """Names of the layers whose unmodelled temporaries could lift the step above `peak`: at their
    forward (live bytes after they run) or backward (bytes while they run), plus the bound."""
    named = []
    for i, node in enumerate(network.nodes):
        if not unmodelled(node):
            continue
        b = bound(node, shapes, width)
        at = max(forward_live.get(i, 0), backward_now.get(i, 0))
        if b is None or resident + at + b > peak:
            named.append(node.name)
    return named
