"""Strides of every value, as eager PyTorch lays them out, for the rules whose copies depend on them
(torch.matmul reshapes its operands: a view where the strides allow, a copy otherwise).

A value's layout is a tuple of strides (ints, or sympy expressions for symbolic sizes), or None
where convshape does not know it: a kind not listed here given a strided input. Compute layers
given contiguous inputs write contiguous outputs; views follow torch's stride arithmetic
(TensorUtils' computeStride for view/reshape); element-wise kinds follow TensorIterator, which
keeps a dense input's strides and otherwise lays the output out in the input's stride order.
tests/test_memory_layout.py checks each rule against the strides torch gives.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..dims import prod


def contiguous(shape) -> tuple:
    out, step = [], 1
    for d in reversed(tuple(shape)):
        out.append(step)
        step = step * d
    return tuple(reversed(out))


def same(a, b):
    """True / False where decided, None where symbolic sizes leave it open."""
    if type(a) is int and type(b) is int:
        return a == b
    if a == b:
        return True                           # structurally equal: no expansion needed
    from sympy import expand
    return True if expand(a - b) == 0 else None


def view_strides(shape, strides, new_shape):
    """The strides of x.view(new_shape), False where torch must copy (reshape), None if undecided
    (torch's computeStride: each chunk of merged dims must be contiguous within itself)."""
    shape, new_shape = tuple(shape), tuple(new_shape)
    if same(prod(shape), prod(new_shape)) is False:
        return False                          # torch refuses: not a view of the same elements
    if not shape or is_contiguous(shape, strides) is True:
        return contiguous(new_shape)          # any view of a contiguous tensor is contiguous, whatever the sizes
    new = [None] * len(new_shape)
    view_d = len(new_shape) - 1
    base = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel = tensor_numel * shape[d]
        if d == 0:
            end = True
        else:
            one = same(shape[d - 1], 1)
            chained = same(strides[d - 1], tensor_numel * base)
            if one is None or (not one and chained is None):
                return None
            end = not one and not chained
        if end:
            while view_d >= 0:
                fits = same(view_numel, tensor_numel)
                unit = same(new_shape[view_d], 1)
                if fits is None or unit is None:
                    return None
                if fits and not unit:
                    break
                new[view_d] = view_numel * base
                view_numel = view_numel * new_shape[view_d]
                view_d -= 1
            fits = same(view_numel, tensor_numel)
            if fits is None:
                return None
            if not fits:
                return False
            if d > 0:
                base, tensor_numel, view_numel = strides[d - 1], 1, 1
    return tuple(new) if view_d == -1 else False


def collapsible(shape, strides, start: int, stop: int):
    """Whether dims start..stop-1 merge into one without a copy (True / False / None)."""
    got = view_strides(shape, strides, tuple(shape[:start]) + (prod(shape[start:stop]),) + tuple(shape[stop:]))
    return None if got is None else got is not False


def is_contiguous(shape, strides):
    """torch's is_contiguous: size-1 dims may hold any stride (True / False / None)."""
    want = contiguous(shape)
    verdict = True
    for d, (s, w) in enumerate(zip(strides, want)):
        eq = same(s, w)
        if eq:
            continue
        one = same(shape[d], 1)
        if one:
            continue
        if one is None or eq is None:
            verdict = None
        else:
            return False
    return verdict


def _concrete(*tuples) -> bool:
    return all(type(v) is int for t in tuples for v in t)


def iterator_strides(out_shape, operands):
    """The output strides TensorIterator allocates for an element-wise op of `operands` ((shape,
    strides) pairs broadcast to out_shape): all contiguous: contiguous; all the same dense strides:
    those; otherwise contiguous in the dim order the operands' strides sort to (ties keep the order)."""
    n = len(out_shape)
    padded = []
    for shape, strides in operands:
        k = n - len(shape)
        padded.append(((1,) * k + tuple(shape), (0,) * k + tuple(strides)))
    if all(is_contiguous(s, st) is True for s, st in padded):
        return contiguous(out_shape)
    if not _concrete(out_shape, *(st for _, st in padded), *(s for s, _ in padded)):
        return None
    same_shape = all(tuple(s) == tuple(out_shape) for s, _ in padded)
    if same_shape and len({st for _, st in padded}) == 1 and is_dense(*padded[0]):
        return padded[0][1]
    # broadcast dims hold stride 0, as TensorIterator sees them
    strides = [tuple(0 if s[d] == 1 and out_shape[d] != 1 else st[d] for d in range(n)) for s, st in padded]

    def should_swap(d0, d1):
        for st in strides:
            s0, s1 = st[d0], st[d1]
            if s0 == 0 or s1 == 0:
                continue
            if s0 != s1:
                return -1 if s0 < s1 else 1
            if out_shape[d0] > out_shape[d1]:
                return 1
        return 0

    perm = list(range(n - 1, -1, -1))      # innermost first
    for i in range(1, n):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            c = should_swap(perm[d0], perm[d1])
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif c < 0:
                break
    out, step = [0] * n, 1
    for d in perm:
        out[d] = step
        step *= out_shape[d]
    return tuple(out)


def is_dense(shape, strides) -> bool:
    """Non-overlapping and dense: some order of the dims is contiguous (size-1 dims anywhere)."""
    step = 1
    for d in sorted((d for d in range(len(shape)) if shape[d] != 1), key=lambda d: strides[d]):
        if strides[d] != step:
            return False
        step *= shape[d]
    return True


# ---------------------------------------------------------------- torch.matmul's operands
@dataclass(frozen=True)
class MatMulPlan:
    copy_a: Any          # elements of the copy of a the product reads (0: a view of a)
    copy_b: Any
    temporary: Any       # elements alive only while the op runs beyond the copies (a transposed result)
    out: Any             # the output's strides


def _mT(shape, strides):
    return tuple(shape[:-2]) + (shape[-1], shape[-2]), tuple(strides[:-2]) + (strides[-1], strides[-2])


def _unknown(*flags) -> bool:
    return any(f is None for f in flags)


def matmul_plan(a, sa, b, sb, a_grad: bool, b_grad: bool):
    """What torch.matmul (ATen's _matmul_impl, 2.14) copies for operands of shapes a, b and strides
    sa, sb, with a_grad / b_grad whether each requires a gradient; None where symbolic sizes or an
    unknown layout leave it open. The product saves the operand it reads, a view or its copy."""
    a, b = tuple(a), tuple(b)
    da, db = len(a), len(b)
    out_shape = _matmul_shape(a, b)
    if da <= 2 and db <= 2:
        return MatMulPlan(0, 0, 0, contiguous(out_shape))   # dot, mv, mm read their operands as given
    if sa is None or sb is None:
        return None                                          # a layout convshape does not know decides
    sa, sb = tuple(sa), tuple(sb)
    if da == db == 3:   # measured: of two 3-D operands, one whose batch is 1 is multiplied as its matrix
        a, sa = _as_matrix(a, sa)
        b, sb = _as_matrix(b, sb)
        if a is None or b is None:
            return None
    da, db = len(a), len(b)
    if da <= 2 and db <= 2:
        return MatMulPlan(0, 0, 0, contiguous(out_shape))   # dot, mv, mm read their operands as given
    fold = _should_fold(a, sa, b, sb, a_grad, b_grad)
    if fold is None:
        return None
    if fold:
        transpose = db > da
        t1, s1 = _mT(b, sb) if transpose else (a, sa)
        merged = collapsible(t1, s1, 0, len(t1) - 1)
        if merged is None:
            return None
        copy = 0 if merged else prod(t1)
        # 2-D @ N-D: the product of b^T and a^T, transposed back by .contiguous(): a copy of the result
        temporary = prod(out_shape) if transpose and da == 2 else 0
        return MatMulPlan(0 if transpose else copy, copy if transpose else 0, temporary, contiguous(out_shape))
    n = a[-2] if da > 1 else 1
    m2 = b[-2] if db > 1 else b[0]
    batch = _broadcast(a[:-2], b[:-2])
    copies = []
    for shape, strides, tail in ((a, sa, (n, a[-1])), (b, sb, (m2,) if db == 1 else (m2, b[-1]))):
        full, fs = _expanded(shape, strides, batch + tail)
        merged = collapsible(full, fs, 0, len(batch)) if len(batch) > 1 else True
        if merged is None:
            return None
        copies.append(0 if merged else prod(full))
    return MatMulPlan(copies[0], copies[1], 0, contiguous(out_shape))


def _as_matrix(shape, strides):
    if len(shape) < 3:
        return shape, strides
    one = same(prod(shape[:-2]), 1)
    if one is None:
        return None, None
    return (shape[-2:], strides[-2:]) if one else (shape, strides)


def _should_fold(a, sa, b, sb, a_grad, b_grad):
    """ATen's should_fold: mm on the larger operand folded into a matrix rather than bmm."""
    larger = len(a) >= len(b)
    t1, s1 = (a, sa) if larger else _mT(b, sb)
    small = len(b) if larger else len(a)
    if not (len(t1) >= 3 and small <= 2):
        return False
    if (b_grad if larger else a_grad):
        return True                      # the small operand's gradient is then one mm, not a bmm and a sum
    if len(a) == 2:
        return False
    if prod(t1) == 0:
        return True
    verdict = True
    for i in range(len(t1) - 2):         # no size-1 exemption here: strides must chain exactly
        eq = same(s1[i], s1[i + 1] * t1[i + 1])
        if eq is None:
            verdict = None
        elif not eq:
            return False
    return verdict


def _broadcast(x, y):
    n = max(len(x), len(y))
    x, y = (1,) * (n - len(x)) + tuple(x), (1,) * (n - len(y)) + tuple(y)
    return tuple(q if same(p, 1) else p for p, q in zip(x, y))


def _expanded(shape, strides, target):
    """x.expand(target): new leading dims and expanded size-1 dims get stride 0."""
    k = len(target) - len(shape)
    out = [0] * k
    for d in range(len(shape)):
        out.append(strides[d] if same(shape[d], target[k + d]) else 0)
    return tuple(target), tuple(out)


def _matmul_shape(a, b):
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(b) == 1:
        return tuple(a[:-1])
    if len(a) == 1:
        return tuple(b[:-2]) + (b[-1],)
    return _broadcast(a[:-2], b[:-2]) + (a[-2], b[-1])


# ---------------------------------------------------------------- every value's strides
ELEMENTWISE = frozenset({"ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Hardswish",
                         "Hardsigmoid", "Add", "Mul", "Sub", "Div", "Maximum", "Minimum", "ScalarArith", "UnaryOp",
                         "ParamArith", "LayerScale", "Affine", "Normalize"})
# kinds that read a strided input into a contiguous result whatever its strides (measured)
CONTIGUOUS = frozenset({"Linear", "LayerNorm", "Softmax", "LogSoftmax", "MatMul", "InstanceNorm1d", "InstanceNorm2d",
                        "InstanceNorm3d", "ScaledDotProductAttention", "MultiheadAttention", "ShiftedWindowAttention",
                        "ShiftedWindowAttention3d", "ShiftedWindowAttentionV2", "RelativePositionalMultiHeadAttention",
                        "PatchMerging", "PatchMergingV2"})
# kinds whose output is strided even from contiguous inputs, in a way not modelled here
STRIDED_OUTPUT = frozenset({"LSTM"})
# kinds whose output is channels-last whatever their input (measured: EdgeNeXt's encoding ends in a
# 1x1 convolution of a permuted tensor)
CHANNELS_LAST = frozenset({"PositionalEncodingFourier"})
# kinds whose output is contiguous whatever the layout of their (N, C, L) or (C, L) input (measured on
# CPU, torch 2.14.1, train and eval, permuted inputs: a Conformer's transposed Conv1d among them); the
# 1-D pools are not here: given a channels-innermost input they may run the 2-D kernel and keep it
CONTIGUOUS_1D = frozenset({"Conv1d", "ConvTranspose1d", "FixedConv1d", "StdConv1d", "BatchNorm1d", "InstanceNorm1d",
                           "GroupNorm", "CircularPad1d", "ReflectionPad1d", "ReplicationPad1d", "MaxUnpool1d"})
DROPOUTS = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
                      "StochasticDepth"})


def _unsqueezed(shape, strides, d):
    stride = shape[d] * strides[d] if d < len(shape) else 1   # torch: the stride of the dim it precedes, times its size
    return tuple(strides[:d]) + (stride,) + tuple(strides[d:])


def _held(layer, x_rank, shape=()):
    """(shape, strides) of the tensors an element-wise layer broadcasts against its input."""
    kind = layer.kind
    if kind == "ParamArith":
        return [(layer.shape, contiguous(layer.shape))]   # a gathered table is reshaped from a contiguous gather
    if kind == "LayerScale":
        d = layer.dim % x_rank
        shape = (layer.channels or 2,) + (1,) * (x_rank - d - 1)   # gamma as (C, 1, ..., 1)
        return [(shape, contiguous(shape))]
    if kind == "Normalize":   # x / norm(x, dim, keepdim).clamp_min(eps).expand_as(x)
        d = layer.dim % x_rank
        return [(shape[:d] + (1,) + shape[d + 1:], contiguous(shape[:d] + (1,) + shape[d + 1:]))]
    if kind == "Affine":
        bias = layer.bias_shape if layer.bias_shape is not None else layer.shape
        return [(bias, contiguous(bias)), (layer.shape, contiguous(layer.shape))]
    return []


def output_strides(layer, ins, out_shape, training: bool):
    """The strides of a layer's output from its inputs' (shape, strides) pairs; None if unknown."""
    kind = layer.kind
    if kind in CONTIGUOUS:
        return contiguous(out_shape)
    if kind in CHANNELS_LAST and len(out_shape) == 4:
        return channels_last(out_shape)
    if kind in CONTIGUOUS_1D and all(len(s) <= 3 for s, _ in ins):
        return contiguous(out_shape)
    if any(s is None for _, s in ins):
        return None
    (x, sx) = ins[0] if ins else ((), ())
    if getattr(layer, "inplace", False) and kind not in DROPOUTS:
        return sx
    if kind == "Identity" or kind in DROPOUTS and (not training or layer.p == 0):
        return sx
    if kind == "Permute":
        dims = [d % len(x) for d in layer.dims]
        return tuple(sx[d] for d in dims)
    if kind == "Narrow":
        return sx
    if kind in ("Reshape", "Flatten", "Unflatten"):
        got = view_strides(x, sx, out_shape)
        return contiguous(out_shape) if got is False else got   # reshape copies what it cannot view
    if kind == "Squeeze":
        dims = None if layer.dim is None else {d % len(x) for d in ((layer.dim,) if isinstance(layer.dim, int) else layer.dim)}
        gone = [d for d in range(len(x)) if (dims is None or d in dims) and same(x[d], 1)]
        return tuple(st for d, st in enumerate(sx) if d not in gone)
    if kind == "Unsqueeze":
        return _unsqueezed(x, sx, layer.dim % (len(x) + 1))
    if kind == "Expand":
        new = len(out_shape) - len(x)
        return (0,) * new + tuple(0 if same(x[d], 1) and not same(out_shape[new + d], 1) else sx[d]
                                  for d in range(len(x)))
    if kind == "TensorUnfold":
        d = layer.dimension % len(x) if x else 0
        if not x:
            return (1,)
        return tuple(sx[:d]) + (sx[d] * layer.step,) + tuple(sx[d + 1:]) + (sx[d],)
    if kind == "Index":
        return _indexed(layer, x, sx)
    if kind in ELEMENTWISE or kind in DROPOUTS:
        operands = list(ins) + _held(layer, len(x), tuple(x))
        if kind == "Add" and len(ins) > 2:          # a chain of sums, left to right
            acc = ins[0]
            for nxt in ins[1:]:
                shape = tuple(_broadcast(acc[0], nxt[0]))
                acc = (shape, iterator_strides(shape, [acc, nxt]))
                if acc[1] is None:
                    return None
            return acc[1]
        return iterator_strides(out_shape, operands)
    if kind in STRIDED_OUTPUT:
        return None
    # measured on every kind's examples: given inputs laid out in their dims' order (a slice of a
    # contiguous tensor), these kinds write a contiguous output; a permuted input may make them
    # write channels-last or keep its order, which is not modelled
    if all(is_contiguous(s, st) is True or in_order(s, st) for s, st in ins):
        return contiguous(out_shape)
    if len(out_shape) == 4 and all(len(s) == 4 for s, _ in ins) and follows_format(layer):
        formats = {channels_last_like(s, st) for s, st in ins}
        if None in formats:
            return None
        return channels_last(out_shape) if formats == {True} else contiguous(out_shape)
    return None


# 4-D kinds that write their output in the memory format torch suggests for their input (channels-last
# strides in, channels-last out; measured on CPU, torch 2.14.1); a concatenation writes channels-last
# only when every input is channels-last
FORMAT_2D = frozenset({"Conv2d", "ConvTranspose2d", "StdConv2d", "FixedConv2d", "BatchNorm2d", "GroupNorm",
                       "MaxPool2d", "AvgPool2d", "LPPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Upsample",
                       "PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "ReflectionPad2d", "ReplicationPad2d",
                       "Concat"})


# 2-D convolutions whose weight gradient torch computes channels-last from a channels-last input
# (memory/training.py: AccumulateGrad copies it into the weight's layout)
RELAID_WEIGHT = frozenset({"Conv2d", "ConvTranspose2d", "StdConv2d"})


def follows_format(layer) -> bool:
    # a circular-padded convolution pads first (torch's pad writes contiguous), then convolves that
    return layer.kind in FORMAT_2D and getattr(layer, "padding_mode", "zeros") == "zeros"


def channels_last(shape) -> tuple:
    n, c, h, w = shape
    return (h * w * c, 1, w * c, c)


def channels_last_like(shape, strides):
    """torch's suggest_memory_format for a 4-D tensor (c10 is_channels_last_strides_2d): True for
    channels-last, False for contiguous, None where symbolic sizes leave it open."""
    if not all(type(v) is int for v in list(shape) + list(strides)):
        return None
    if strides[1] == 0:
        return False
    low = 0
    for d in (1, 3, 2, 0):
        if shape[d] == 0 or strides[d] < low:
            return False
        if d == 0 and low == strides[1]:
            return False
        low = strides[d] * shape[d]
    return True


def in_order(shape, strides) -> bool:
    """Concrete strides that fall strictly over the dims of size > 1, as a slice of a contiguous tensor's do."""
    kept = [st for d, st in zip(shape, strides) if d != 1]
    return all(type(v) is int for v in list(shape) + list(strides)) and all(v > 0 for v in kept) \
        and all(a > b for a, b in zip(kept, kept[1:]))


def _indexed(layer, x, sx):
    plan, d = layer._plan(x)
    sizes, out = [], []
    for step in plan:
        if step[0] == "slice":
            sizes.append(step[3])
            out.append(sx[step[1]] * step[4])
        elif step[0] == "new":
            sizes.append(1)
            out.append(None)                      # as unsqueeze: filled in below
    sizes += list(x[d:])
    out += list(sx[d:])
    for i in range(len(out) - 1, -1, -1):
        if out[i] is None:
            out[i] = 1 if i == len(out) - 1 else out[i + 1] * sizes[i + 1]
    return tuple(out)


# kinds that may make a strided value from contiguous inputs: only then can a reshape copy
STRIDING = frozenset({"Permute", "Narrow", "Expand", "TensorUnfold", "Index"}) | STRIDED_OUTPUT
# torch.reshape and torch.flatten view where the strides allow and copy otherwise (Unflatten always views)
RESHAPES = frozenset({"Reshape", "Flatten"})


def reshape_copies(network, shapes: dict, strides: dict) -> tuple[frozenset, tuple]:
    """(reshapes torch makes a copy for, reshapes whose input layout or symbolic sizes leave it open)."""
    copies, undecided = [], []
    for node in network.nodes:
        if node.kind not in RESHAPES or not node.inputs:
            continue
        shape, sx = shapes[node.inputs[0]], strides.get(node.inputs[0])
        if view_strides(shape, _reversed(shape), shapes[node.name]) not in (False, None):
            continue      # it views even the reversed layout, so any: no merge of two dims of size > 1
        got = None if sx is None else view_strides(shape, sx, shapes[node.name])
        if got is False:
            copies.append(node.name)
        elif got is None:
            undecided.append(node.name)
    return frozenset(copies), tuple(undecided)


def _reversed(shape) -> tuple:
    """Strides laid out innermost-first from dim 0: no two adjacent dims chain."""
    out, step = [], 1
    for d in shape:
        out.append(step)
        step = step * d
    return tuple(out)


def value_strides(network, shapes: dict, training: bool) -> dict:
    """Value name -> strides (None: unknown) for the network's inputs (contiguous) and every layer."""
    from ..graph import INPUT
    strides = {name: contiguous(shapes[name]) for name in network.input_names}
    strides.setdefault(INPUT, strides[network.input_names[0]])
    for node in network.nodes:
        ins = [(tuple(shapes[i]), strides.get(i)) for i in node.inputs]
        try:
            strides[node.name] = output_strides(node.layer, ins, tuple(shapes[node.name]), training)
        except (TypeError, ValueError, ZeroDivisionError, IndexError, AttributeError):
            strides[node.name] = None        # a configuration the arithmetic above does not cover
    return strides
