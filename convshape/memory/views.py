"""Which values eager torch returns as views of another tensor, for the backward of in-place layers.

An in-place op on a view (a LeakyReLU(inplace=True) after InstanceNorm2d, whose torch output is a
view of batch_norm's) is differentiated through autograd's CopySlices: backward makes the base's
gradient from the view's (new_zeros, as_strided), a copy of it (new_empty_strided), a clone of the
view's slice and the op's own gradient, where an op on a plain tensor makes the last only. Measured
on CPU torch 2.14.1 (tests/test_memory_views.py): two base-sized tensors more at that layer's backward.
"""
from __future__ import annotations

from ..dims import prod
from ..graph import INPUT
from .layout import contiguous
from .rules import EVAL_IDENTITY, VIEWS, output_alias

# kinds torch always returns as a view of a result of the same size (measured, `Tensor._is_view()`):
# instance norm is batch_norm of a (1, N*C, ...) view, viewed back; the 1-D pools run the 2-D kernels
VIEW_OUTPUT = frozenset({"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "AvgPool1d", "MaxPool1d",
                         "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "MaxUnpool1d"})
# kinds whose output is a view in cases not modelled here (an N-D Linear that folds a strided input,
# the attention kinds, LSTM): an in-place layer on their output is named
VIEW_UNKNOWN = frozenset({"Linear", "LSTM", "MultiheadAttention", "RelativePositionalMultiHeadAttention",
                          "ShiftedWindowAttention", "ShiftedWindowAttention3d", "ShiftedWindowAttentionV2"})
# views whose base is larger than the view (a slice): the base's gradient is not the view's size
SLICING = frozenset({"Narrow", "Index", "Expand", "TensorUnfold"})
CONVS = ("Conv", "ConvTranspose", "StdConv", "FixedConv")


def _unbatched(layer, rank: int) -> bool:
    """A layer of d spatial dims given (C, *spatial): torch adds the batch dim and squeezes it off (a view)."""
    kind = layer.kind
    for prefix in CONVS:
        for d in (1, 2, 3):
            if kind == f"{prefix}{d}d":
                return rank == d + 1
    if kind == "Linear":
        return rank == 1
    if kind == "Dropout1d":
        return rank == 2
    if kind == "Dropout3d":
        return rank != 5
    if kind == "Upsample":
        return getattr(layer, "mode", "") == "area" and rank == 3   # adaptive_avg_pool1d
    return False


def view_state(network, shapes: dict, copies=frozenset(), layouts=None) -> dict:
    """Value name -> True (a view of a base of its own size), False (not a view), None (not known:
    a view of a larger base, or a kind whose case is not modelled). Training mode. layouts: the
    values' strides where computed (layout.value_strides); none given, every value is contiguous."""
    state = {name: False for name in network.input_names}
    state.setdefault(INPUT, False)
    for node in network.nodes:
        layer, kind = node.layer, node.kind
        first = state.get(node.inputs[0], False) if node.inputs else False
        rank = len(shapes[node.inputs[0]]) if node.inputs else 0
        if kind in ("Dropout1d", "Dropout3d") and _unbatched(layer, rank):
            state[node.name] = True                    # unsqueezed for the kernel, squeezed back
        elif kind == "Identity" or (kind in EVAL_IDENTITY and output_alias(layer, True) and not getattr(layer, "inplace", False)):
            state[node.name] = first                   # returns its input itself
        elif getattr(layer, "inplace", False) and output_alias(layer, True):
            state[node.name] = first                   # the same tensor, modified
        elif kind == "Flatten" and _flatten_is_noop(layer, rank):
            state[node.name] = first                   # torch.flatten returns its input
        elif kind in VIEWS:
            if node.name in copies:
                state[node.name] = False               # a reshape torch could not view copies
            elif kind in SLICING or prod(shapes[node.name]) != prod(shapes[node.inputs[0]]):
                state[node.name] = None
            else:
                state[node.name] = True if first is not None else None
        elif kind in VIEW_OUTPUT or _unbatched(layer, rank):
            state[node.name] = True
        elif kind == "Linear" and rank > 2 and (not layouts or layouts.get(node.inputs[0]) == contiguous(
                tuple(shapes[node.inputs[0]]))):
            state[node.name] = False                   # measured: a contiguous N-D input's result is its own
        elif kind in VIEW_UNKNOWN and (kind != "Linear" or rank > 2):
            state[node.name] = None                    # a 2-D Linear is one addmm: a tensor of its own
        else:
            state[node.name] = False
    return state


def _flatten_is_noop(layer, rank: int) -> bool:
    if rank <= 1:
        return True
    start = layer.start_dim % rank
    end = layer.end_dim % rank
    return start == end
