"""What autograd saves for backward, per layer kind, and which layers' outputs share their input's
storage. Each rule was derived from torch 2.14 on CPU with torch.autograd.graph.saved_tensors_hooks
(distinct storages, excluding parameters and buffers) and is checked on every example of its kind
by tests/test_memory_contract.py; docs/memory.md has the table.

A rule receives the layer, its input shapes, its output shape and `Grads` (which inputs need a
gradient, whether its trainable parameters do, and the module's training flag), and returns a
`Saved` (which inputs' and whether the output's storages autograd keeps, plus the bytes of new
tensors it keeps), or None where convshape does not know the configuration (then the report names
the layer instead of guessing). Rules are called only for layers whose output needs a gradient.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..dims import prod

SAVED: dict[str, Callable] = {}


@dataclass(frozen=True)
class Grads:
    inputs: tuple          # per input: does autograd need its gradient
    weight: bool           # the layer's trainable parameters need gradients (False when frozen)
    training: bool         # module.train(): batch statistics, dropout active

    @property
    def any(self) -> bool:
        return self.weight or any(self.inputs)


@dataclass(frozen=True)
class Saved:
    inputs: tuple = ()     # indices of the inputs whose storage is kept
    output: bool = False   # the output's storage is kept
    extra: tuple = ()      # bytes of each new tensor kept (indices, masks, statistics, padded copies)
    indices: bool = False  # the storage of the indices the layer yields as a second output is kept


NOTHING = Saved()


def saves(*kinds: str):
    """Register one rule for these kinds; a kind registered twice raises."""
    def deco(fn):
        for kind in kinds:
            if kind in SAVED:
                raise ValueError(f"saved-tensor rule for {kind} is registered twice")
            SAVED[kind] = fn
        return fn
    return deco


def ranks(*stems: str) -> tuple:
    return tuple(f"{s}{n}d" for s in stems for n in (1, 2, 3))


def acc_width(width: int) -> int:
    """Statistics (mean, inverse std) are kept in the accumulation type: float32 for half types."""
    return 8 if width == 8 else 4


# ---------------------------------------------------------------- kinds that keep nothing
@saves("Add", "Concat", "ChannelShuffle", "PixelShuffle", "PixelUnshuffle", "Flatten", "Unflatten",
       "Reshape", "Permute", "Narrow", "Identity", "Expand", "TensorUnfold", *ranks("CircularPad", "ConstantPad", "ZeroPad"))
def _nothing(layer, inputs, output, grads, width):
    return NOTHING


# ---------------------------------------------------------------- element-wise: input or output
@saves("ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax")
def _keeps_output(layer, inputs, output, grads, width):
    # the derivative is written in terms of the result (relu: result > 0; sigmoid: y(1-y))
    return Saved(output=True) if grads.inputs[0] else NOTHING


@saves("ReLU6", "SiLU", "GELU", "ELU", "LeakyReLU", "Mish", "Hardswish", "Hardsigmoid",
       *ranks("AvgPool", "ReflectionPad", "ReplicationPad"))
def _keeps_input(layer, inputs, output, grads, width):
    if not grads.inputs[0]:
        return NOTHING
    if getattr(layer, "inplace", False):
        if layer.kind in ("ELU", "LeakyReLU"):
            return Saved(output=True)   # in place, torch writes the derivative in terms of the result
        return Saved(extra=(width * prod(inputs[0]),))   # autograd keeps a copy of the input it overwrites
    return Saved(inputs=(0,))


@saves(*ranks("AdaptiveAvgPool"))
def _adaptive_avg(layer, inputs, output, grads, width):
    # torch computes a 1x...x1 adaptive average as mean(), whose backward needs only the shape
    n = layer.ndim
    if not grads.inputs[0] or all(d == 1 for d in output[len(output) - n:]):
        return NOTHING
    return Saved(inputs=(0,))


@saves(*ranks("MaxPool", "AdaptiveMaxPool"))
def _max_pool(layer, inputs, output, grads, width):
    # the input and the argmax indices (int64, one per output element): with return_indices, the
    # very tensor it returns beside the output
    if not grads.inputs[0]:
        return NOTHING
    if layer.has_indices():
        return Saved(inputs=(0,), indices=True)
    return Saved(inputs=(0,), extra=(8 * prod(output),))


@saves(*ranks("MaxUnpool"))
def _max_unpool(layer, inputs, output, grads, width):
    # the indices it read (input 1) only: the gradient of the values is grad_output gathered at them
    return Saved(inputs=(1,)) if grads.inputs[0] else NOTHING


@saves("Upsample")
def _upsample(layer, inputs, output, grads, width):
    # 'area' is adaptive_avg_pool (keeps its input); interpolation kernels need only the sizes
    if layer.mode == "area" and grads.inputs[0]:
        return Saved(inputs=(0,))
    return NOTHING


def partials(inputs, width):
    """Bytes of the partial results of a chained Add or Mul (x0 op x1, then op x2, ...), the last
    one being the output: torch.nn's merge modules fold their inputs left to right."""
    from ..layers.merge import broadcast
    return [width * prod(broadcast(inputs[:j + 1], "merge")) for j in range(1, len(inputs))]


@saves("Mul")
def _mul(layer, inputs, output, grads, width):
    # step j multiplies the partial product s(j-1) by x(j): each factor is kept when the other needs
    # a gradient; the partial products before the output are new tensors
    keep, extra = [], []
    parts = partials(inputs, width)
    before = grads.inputs[0]                 # does the partial product so far need a gradient
    for j in range(1, len(inputs)):
        if grads.inputs[j]:                  # the gradient of x(j) needs s(j-1)
            if j == 1:
                keep.append(0)
            else:
                extra.append(parts[j - 2])
        if before:                           # the gradient of s(j-1) needs x(j)
            keep.append(j)
        before = before or grads.inputs[j]
    return Saved(inputs=tuple(dict.fromkeys(keep)), extra=tuple(extra))


# ---------------------------------------------------------------- dropout (CPU: a mask of the input's dtype)
@saves("Dropout", "AlphaDropout")
def _dropout(layer, inputs, output, grads, width):
    if not grads.training or layer.p == 0 or not grads.inputs[0]:
        return NOTHING
    return Saved(extra=(width * prod(inputs[0]),))


@saves("Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout")
def _feature_dropout(layer, inputs, output, grads, width):
    if not grads.training or layer.p == 0 or not grads.inputs[0]:
        return NOTHING
    shape = inputs[0]
    batched = {"Dropout1d": 3, "Dropout2d": 4, "Dropout3d": 5}.get(layer.kind)
    if batched is not None and len(shape) != batched and layer.kind != "Dropout2d":
        # unbatched (torch adds a batch dim of 1 to any other rank): one mask entry per channel
        return Saved(extra=(width * shape[0],))
    if len(shape) < 2:
        return None
    return Saved(extra=(width * shape[0] * shape[1],))   # one mask entry per (sample, channel)


@saves("StochasticDepth")
def _stochastic_depth(layer, inputs, output, grads, width):
    if not grads.training or layer.p == 0 or not grads.inputs[0]:
        return NOTHING
    return Saved(extra=(width * (inputs[0][0] if layer.mode == "row" else 1),))


# ---------------------------------------------------------------- layers with weights
@saves(*ranks("Conv"))
def _conv(layer, inputs, output, grads, width):
    pads = layer.pads()
    explicit = layer.padding_mode != "zeros" or any(lo != hi for lo, hi in pads)
    if not explicit:
        return Saved(inputs=(0,))
    # torch pads with F.pad first and convolves the padded copy, which is what it keeps
    # zeros mode: F.pad adds only the odd excess of an asymmetric 'same' and the convolution pads
    # the symmetric rest itself; other modes: F.pad adds all of it
    n = layer.ndim
    shape = inputs[0]
    grow = [hi - lo if layer.padding_mode == "zeros" else lo + hi for lo, hi in pads]
    padded = tuple(shape[:len(shape) - n]) + tuple(s + g for s, g in zip(shape[len(shape) - n:], grow))
    keep = (0,) if layer.padding_mode in ("reflect", "replicate") and grads.inputs[0] else ()
    return Saved(inputs=keep, extra=(width * prod(padded),))


@saves(*ranks("ConvTranspose"), "PReLU")
def _keeps_input_always(layer, inputs, output, grads, width):
    return Saved(inputs=(0,))


@saves("LayerScale", "Affine")
def _keeps_input_for_weight(layer, inputs, output, grads, width):
    # the input is needed only for the weight gradient; the input gradient needs the weight alone
    # (Affine: AddcmulBackward keeps tensor2 = x for weight's gradient, tensor1 = weight for x's)
    return Saved(inputs=(0,)) if grads.weight else NOTHING


@saves(*ranks("BatchNorm"))
def _batch_norm(layer, inputs, output, grads, width):
    batch_stats = grads.training or not layer.track_running_stats
    c = inputs[0][1]
    stats = 2 * c * acc_width(width) if batch_stats else 0
    return Saved(inputs=(0,), extra=(stats,))


@saves(*ranks("InstanceNorm"))
def _instance_norm(layer, inputs, output, grads, width):
    shape = inputs[0]
    rows = shape[0] * shape[1] if len(shape) == layer.ndim + 2 else shape[0]
    if layer.track_running_stats and not grads.training:
        return None
    extra = (2 * rows * acc_width(width),) + ((rows * width,) if layer.affine else ())  # weight repeated per sample
    return Saved(inputs=(0,), extra=extra)


@saves("GroupNorm")
def _group_norm(layer, inputs, output, grads, width):
    rows = inputs[0][0] * layer.num_groups
    return Saved(inputs=(0,), extra=(2 * rows * acc_width(width),))


@saves("LayerNorm")
def _layer_norm(layer, inputs, output, grads, width):
    shape = inputs[0]
    k = 1 if isinstance(layer.normalized_shape, int) else len(layer.normalized_shape)
    rows = prod(shape[:len(shape) - k])
    return Saved(inputs=(0,), extra=(2 * rows * acc_width(width),))


# ---------------------------------------------------------------- outputs that share the input's storage
VIEWS = frozenset({"Flatten", "Unflatten", "Reshape", "Permute", "Narrow", "Identity", "Index", "Squeeze",
                   "Unsqueeze", "Expand", "TensorUnfold"})
EVAL_IDENTITY = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                           "FeatureAlphaDropout", "StochasticDepth"})


def output_alias(layer, training: bool) -> bool:
    """True when the layer's output shares the storage of its first input: views, in-place layers
    (inplace=True) and dropout-like layers that return their input in eval mode (or with p=0)."""
    kind = layer.kind
    if kind in EVAL_IDENTITY:
        if not training or layer.p == 0:
            return True
        # measured: torch's alpha dropouts return a new tensor even with inplace=True
        return getattr(layer, "inplace", False) and "Alpha" not in kind
    return kind in VIEWS or getattr(layer, "inplace", False)


def buffer_bytes(layer, buffers, width: int):
    """Bytes of a layer's buffers: float buffers in the dtype; num_batches_tracked, the attention
    kinds' relative_position_index and a gathered bias's fixed index int64."""
    if buffers == 0:
        return 0
    if layer.kind.startswith(("BatchNorm", "InstanceNorm")) and getattr(layer, "track_running_stats", False):
        return (buffers - 1) * width + 8
    if layer.kind in ("ShiftedWindowAttention", "ShiftedWindowAttention3d", "RelativePositionalMultiHeadAttention"):
        return buffers * 8
    if layer.kind == "ParamArith" and layer.index is not None or layer.kind == "ScaledDotProductAttention":
        return buffers * 8   # the index is the only buffer of a gathered table (SDPA: of its bias)
    if layer.kind == "ShiftedWindowAttentionV2":
        return 2 * layer.table() * width + (buffers - 2 * layer.table()) * 8   # the float coords table
    return buffers * width


def unused_bytes(network, width: int):
    """Bytes of the parameters and buffers of modules forward never calls (imported): resident in
    memory like any others, though no layer reads them (and no gradient or optimizer state is made)."""
    return sum(n * width + (b - i) * width + i * 8 for _m, n, _t, b, i in network.unused_params)


# ---------------------------------------------------------------- temporaries of an inference forward
# Tensors an op returns beside its output and torch drops at once (alive only while the layer runs),
# measured like the rules above with the live-storage tracker under no_grad in eval mode: the bytes
# alive at the layer's peak beyond its inputs and output. A kind with no @during rule makes none; a
# kind listed in NO_TEMPORARY_RULE, or whose rule answers None, makes tensors convshape does not
# model: named in reports.
TEMPORARIES: dict[str, Callable] = {}
NO_TEMPORARY_RULE = frozenset({*ranks("LPPool"), "LocalResponseNorm"})


def during(*kinds: str):
    """Register the temporaries rule of these kinds; a kind registered twice raises."""
    def deco(fn):
        for kind in kinds:
            if kind in TEMPORARIES:
                raise ValueError(f"temporaries rule for {kind} is registered twice")
            TEMPORARIES[kind] = fn
        return fn
    return deco


def temporaries(layer, inputs, output, width: int, training: bool = False, strides=None):
    """Bytes alive only while this layer runs in an eval forward, or None when not modelled.
    strides: the inputs' (layout.value_strides), for the kinds in NEEDS_STRIDES; contiguous if not given."""
    kind = layer.kind
    if kind in NO_TEMPORARY_RULE or kind not in SAVED:
        return None
    rule = TEMPORARIES.get(kind)
    if rule is None:
        return 0
    return rule(layer, inputs, output, width, training, **strides_kwarg(kind, strides))


# kinds whose rules read their inputs' strides (matmul copies what its reshape cannot view; so does
# an N-D Linear, which is torch.matmul(x, weight.t()) unless x is contiguous)
NEEDS_STRIDES = frozenset({"MatMul", "Linear"})


def strides_kwarg(kind: str, strides) -> dict:
    """The inputs' strides for a rule that reads them (an entry None: not known, and the rule says so)."""
    return {"strides": tuple(strides)} if kind in NEEDS_STRIDES and strides is not None else {}


@during("Add", "Mul")
def _chained_partials(layer, inputs, output, width, training):
    # while step j runs, s(j-1) and s(j) are alive; the last partial is the output
    parts = partials(inputs, width)
    peak = max([parts[0]] + [a + b for a, b in zip(parts, parts[1:])])
    return peak - parts[-1]


@during(*ranks("MaxPool", "AdaptiveMaxPool"))
def _max_pool_indices(layer, inputs, output, width, training):
    # the int64 indices beside the maximum; with return_indices they are an output instead
    return 0 if layer.has_indices() else 8 * prod(output)


@during(*ranks("Conv"))
def _conv_padded(layer, inputs, output, width, training):
    return sum(_conv(layer, inputs, output, Grads((False,), True, training), width).extra)   # F.pad's copy


@during(*ranks("BatchNorm"))
def _batch_norm_stats(layer, inputs, output, width, training):
    return sum(_batch_norm(layer, inputs, output, Grads((False,), False, training), width).extra)


@during(*ranks("InstanceNorm"))
def _instance_norm_stats(layer, inputs, output, width, training):
    shape = inputs[0]
    rows = shape[0] * shape[1] if len(shape) == layer.ndim + 2 else shape[0]
    repeated = rows * width * (1 + bool(layer.bias)) if layer.affine else 0   # weight (and bias) per sample
    if layer.track_running_stats and not training:
        return 2 * rows * width + repeated        # the running statistics repeated per sample
    return 2 * rows * acc_width(width) + repeated


@during("GroupNorm", "LayerNorm")
def _norm_stats(layer, inputs, output, width, training):
    rule = _group_norm if layer.kind == "GroupNorm" else _layer_norm
    return sum(rule(layer, inputs, output, Grads((False,), False, training), width).extra)
