"""Saved-tensor and temporaries rules of the algebra, selection and attention kinds (issue 12):
arithmetic by op, reductions, matmul's broadcast copies, fixed and frozen layers, Swin's patch
merging. Derived like rules.py's (torch 2.14 on CPU, saved_tensors_hooks, distinct storages) and
checked by tests/test_memory_contract.py on every example and on the op variants it lists.

The attention kinds whose saved set depends on the backend torch picks (scaled_dot_product_attention:
CPU flash attention keeps q, k, v, the output and logsumexp, the math fallback keeps its bmm
copies and the attention weights; CUDA has three more backends) answer None: reports name them.
"""
from __future__ import annotations

from ..dims import prod
from .layout import contiguous, matmul_plan
from .rules import NOTHING, Grads, Saved, _conv, acc_width, during, saves

# ---------------------------------------------------------------- arithmetic, by op
# d(x op c)/dx by the op: add/sub/mul/div by a constant need nothing; pow keeps x; c ** x keeps x and
# the result; maximum/minimum keep x and the 0-d tensor torch makes of the constant
SCALAR_KEEPS = {"add": (), "sub": (), "rsub": (), "mul": (), "div": (), "pow": ("x",), "rpow": ("x", "out"),
                "maximum": ("x", "c"), "minimum": ("x", "c"), "rdiv": ("r",)}


@saves("ScalarArith")
def _scalar_arith(layer, inputs, output, grads, width):
    keeps = SCALAR_KEEPS[layer.op]
    # rdiv: c / x runs as reciprocal(x) * c, and reciprocal keeps its result (a new tensor of x's size)
    extra = ((width,) if "c" in keeps else ()) + ((width * prod(inputs[0]),) if "r" in keeps else ())
    return Saved(inputs=(0,) if "x" in keeps else (), output="out" in keeps, extra=extra)


@during("ScalarArith")
def _scalar_arith_temporaries(layer, inputs, output, width, training):
    if layer.op in ("maximum", "minimum"):
        return width                             # torch.tensor(value): a 0-d tensor of x's dtype
    return width * prod(inputs[0]) if layer.op == "rdiv" else 0   # reciprocal(x) before the product


def _keeps_gathered(op, grads) -> bool:
    """Whether autograd keeps t itself, by the op (measured with t a non-parameter tensor): x * t for
    x's gradient, x / t for either, t / x for x's, pow, rpow, maximum and minimum always."""
    if op in ("add", "sub", "rsub"):
        return False
    if op in ("mul", "rdiv"):
        return grads.inputs[0]
    return grads.inputs[0] or grads.weight if op == "div" else True


@saves("ParamArith")
def _param_arith(layer, inputs, output, grads, width):
    op = layer.op
    # a gathered table[index] is a new tensor (not the parameter): kept where the op keeps t
    extra = (width * prod(layer.shape),) if layer.table is not None and _keeps_gathered(op, grads) else ()
    if op in ("add", "sub", "rsub"):
        return NOTHING
    if op in ("mul", "div"):
        # x * t: the gradient of t needs x; the gradient of x needs t alone (a parameter or buffer)
        return Saved(inputs=(0,) if grads.weight else (), extra=extra)
    # rdiv, maximum, minimum keep x; pow also the result
    return Saved(inputs=(0,), output=op in ("pow", "rpow"), extra=extra)


@during("ParamArith")
def _param_arith_temporaries(layer, inputs, output, width, training):
    # table[index] (its reshape a view of the contiguous gather) lives until the op has run
    return width * prod(layer.shape) if layer.table is not None else 0


@saves("Sub", "Stack", "ParamConcat", "Squeeze", "Unsqueeze", "Index")
def _keeps_nothing(layer, inputs, output, grads, width):
    return NOTHING


@saves("Div")
def _div(layer, inputs, output, grads, width):
    # a / b: both gradients need b; the gradient of b also needs a
    return Saved(inputs=(0, 1) if grads.inputs[1] else (1,))


@saves("Maximum", "Minimum")
def _extremum(layer, inputs, output, grads, width):
    return Saved(inputs=(0, 1))   # both, whichever needs the gradient: the mask compares them


@saves("UnaryOp")
def _unary(layer, inputs, output, grads, width):
    if layer.fn in ("neg", "sign"):
        return NOTHING
    # the derivative written in the result: rsqrt, sqrt, exp, reciprocal; in the input otherwise
    return Saved(output=True) if layer.fn in ("rsqrt", "sqrt", "exp", "reciprocal") else Saved(inputs=(0,))


@saves("Reduce")
def _reduce(layer, inputs, output, grads, width):
    # sum and mean need only the shape; amax/amin compare the input with the result; the 2-norm
    # (linalg_vector_norm) keeps both too: its gradient is x / norm
    return Saved(inputs=(0,), output=True) if layer.op in ("amax", "amin", "norm") else NOTHING


# ---------------------------------------------------------------- matmul: which operand torch copies
def _plan(inputs, strides, a_grad, b_grad):
    """layout.matmul_plan for these operands (contiguous unless their strides are given)."""
    a, b = inputs
    sa, sb = strides if strides is not None else (contiguous(a), contiguous(b))
    return matmul_plan(a, sa, b, sb, a_grad, b_grad)


@saves("MatMul")
def _matmul(layer, inputs, output, grads, width, strides=None):
    # the product keeps each operand it reads for the other's gradient: a view of it, or the copy
    # torch.matmul made of it (broadcast batch dims, a strided operand its reshape cannot view)
    plan = _plan(inputs, strides, *grads.inputs)
    if plan is None:
        return None
    keep, extra = [], []
    for j, (copy, other_needs) in enumerate(((plan.copy_a, grads.inputs[1]), (plan.copy_b, grads.inputs[0]))):
        if other_needs:
            keep, extra = (keep, extra + [width * copy]) if copy else (keep + [j], extra)
    return Saved(inputs=tuple(keep), extra=tuple(extra))


def _linear_plan(inputs, output, strides, x_grad, w_grad):
    """An N-D Linear of a strided input is torch.matmul(x, weight.t()) (at::linear): the plan of that
    product; False where x is 2-D (one addmm reads x as it is) or contiguous (strides not given: every
    value is); None where x's layout is not known."""
    x = tuple(inputs[0])
    if len(x) <= 2 or strides is None:
        return False
    sx = strides[0]
    if sx is None:
        return None
    if tuple(sx) == contiguous(x):
        return False
    k = x[-1]
    return matmul_plan(x, sx, (k, output[-1]), (1, k), x_grad, w_grad)   # weight.t(): strides (1, k)


@saves("Linear")
def _linear(layer, inputs, output, grads, width, strides=None):
    # the input is needed only for the weight gradient (the input gradient needs the weight alone):
    # x itself, or the copy matmul made of a strided x its reshape to 2-D cannot view
    if not grads.weight:
        return NOTHING
    plan = _linear_plan(inputs, output, strides, grads.inputs[0] if grads.inputs else False, True)
    if plan is None:
        return None
    return Saved(extra=(width * plan.copy_a,)) if plan and plan.copy_a else Saved(inputs=(0,))


@during("Linear")
def _linear_temporaries(layer, inputs, output, width, training, strides=None):
    plan = _linear_plan(inputs, output, strides, False, False)
    return None if plan is None else width * (plan.copy_a + plan.temporary) if plan else 0


@during("MatMul")
def _matmul_temporaries(layer, inputs, output, width, training, strides=None):
    plan = _plan(inputs, strides, False, False)   # under no_grad no operand requires a gradient
    return None if plan is None else width * (plan.copy_a + plan.copy_b + plan.temporary)


# ---------------------------------------------------------------- fixed and frozen layers
@saves(*(f"FixedConv{n}d" for n in (1, 2, 3)))
def _fixed_conv(layer, inputs, output, grads, width):
    # the convolution keeps its input whether or not its (buffer) weight needs a gradient
    return _conv(layer, inputs, output, Grads(grads.inputs, True, grads.training), width)


@during(*(f"FixedConv{n}d" for n in (1, 2, 3)))
def _fixed_conv_temporaries(layer, inputs, output, width, training):
    return sum(_conv(layer, inputs, output, Grads((False,), True, training), width).extra)


@saves("FrozenBatchNorm2d")
def _frozen_batch_norm(layer, inputs, output, grads, width):
    # torchvision: x * scale + bias, scale = w * (rv + eps).rsqrt() reshaped to (1, C, 1, 1): kept by the product
    return Saved(extra=(width * inputs[0][1],))


@during("FrozenBatchNorm2d")
def _frozen_batch_norm_temporaries(layer, inputs, output, width, training):
    # x * scale beside the output, with scale and bias (C each)
    return width * (prod(inputs[0]) + 2 * inputs[0][1])


# ---------------------------------------------------------------- Swin's patch merging (torchvision)
def _merged(layer, inputs, output, width):
    """(rows, bytes of the 2x2 concatenation, bytes of the output) of a patch merging."""
    rows = prod(output[:-1])
    return rows, rows * 4 * inputs[0][-1] * width, rows * output[-1] * width


@saves("PatchMerging")
def _patch_merging(layer, inputs, output, grads, width):
    # F.pad, four strided slices, cat (4C) -> LayerNorm (keeps the cat and 2 statistics per row) ->
    # Linear without bias (keeps the normalised cat for its weight gradient)
    rows, cat, _ = _merged(layer, inputs, output, width)
    return Saved(extra=(cat, 2 * rows * acc_width(width)) + ((cat,) if grads.weight else ()))


@saves("PatchMergingV2")
def _patch_merging_v2(layer, inputs, output, grads, width):
    # cat (4C) -> Linear (keeps the cat for its weight gradient) -> LayerNorm (keeps its input, 2C per row)
    rows, cat, out = _merged(layer, inputs, output, width)
    return Saved(extra=(out, 2 * rows * acc_width(width)) + ((cat,) if grads.weight else ()))


@during("PatchMerging")
def _patch_merging_temporaries(layer, inputs, output, width, training):
    rows, cat, out = _merged(layer, inputs, output, width)
    return 2 * cat + 2 * rows * acc_width(width) - out   # LayerNorm: the cat, its result and statistics


@during("PatchMergingV2")
def _patch_merging_v2_temporaries(layer, inputs, output, width, training):
    rows, cat, out = _merged(layer, inputs, output, width)
    return 2 * cat - out   # while cat runs: F.pad's copy (it copies even with zero padding) and the cat


# ---------------------------------------------------------------- not modelled, by name
BACKEND_DEPENDENT = ("ScaledDotProductAttention", "MultiheadAttention")


@saves(*BACKEND_DEPENDENT)
def _unknown(layer, inputs, output, grads, width):
    return None


@during(*BACKEND_DEPENDENT)
def _unknown_temporaries(layer, inputs, output, width, training):
    return None
