"""thop's `profile(model, inputs)` total_ops (thop 0.1.1), from its module hooks
(thop/profile.py `register_hooks`, thop/vision/basic_hooks.py). A module type without a hook
counts nothing (thop warns "Cannot find rule"); ReLU, max pooling and Dropout are hooked to 0.
"""
from __future__ import annotations

from ..dims import prod
from .kinds import ADAPTIVE_AVG_POOL, ADAPTIVE_MAX_POOL, AVG_POOL, BATCH_NORM, CONV, CONV_TRANSPOSE, \
    DATA_MOVEMENT, DROPOUT, ELEMENTWISE, INSTANCE_NORM, MAX_POOL, elements
from .registry import convention, not_counted, refuse, rule

convention("thop", "MACs", "thop profile: module hooks (conv and linear MACs without bias, norms 2 or 4 "
           "per element, ReLU and max pooling 0); unhooked modules count nothing")

not_counted("thop", ("ELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid", "LogSoftmax",
                     "GroupNorm") + tuple(k for k in DATA_MOVEMENT + DROPOUT if k not in ("ZeroPad2d", "PixelShuffle",
                                                                                          "Dropout"))
            + ELEMENTWISE, "thop has no hook for these module types")


@rule("thop", "ReLU", "ReLU6", "LeakyReLU", *MAX_POOL, *ADAPTIVE_MAX_POOL, "Dropout", "ZeroPad2d", "PixelShuffle")
def zero(seen):
    """zero_ops (and count_relu, whose calculate_relu_flops returns 0): hooked, 0."""
    return 0


@rule("thop", *CONV, *CONV_TRANSPOSE)
def conv(seen):
    """calculate_conv2d_flops: output elements × (input channels // groups) × kernel elements, bias
    ignored; for a transposed conv that is not its MACs (in/groups where ours has out/groups per
    input element)."""
    layer = seen.layer
    return elements(seen.output) * (seen.inputs[0][1] // layer.groups) * prod(_kernel(layer))


def _kernel(layer) -> tuple:
    k = layer.kernel_size
    return k if isinstance(k, tuple) else (k,) * int(layer.kind[-2])


@rule("thop", "Linear")
def linear(seen):
    """count_linear: in_features × output elements: the MACs, bias ignored."""
    return seen.inputs[0][-1] * elements(seen.output)


@rule("thop", *BATCH_NORM, *INSTANCE_NORM, "LayerNorm")
def norm(seen):
    """count_normalization: 2 per input element, × 2 when affine (LayerNorm: elementwise_affine)."""
    affine = seen.layer.elementwise_affine if seen.layer.kind == "LayerNorm" else seen.layer.affine
    return (4 if affine else 2) * elements(seen.inputs[0])


@rule("thop", "PReLU")
def prelu(seen):
    """count_prelu in eval mode: 1 per input element."""
    return elements(seen.inputs[0])


@rule("thop", "Softmax")
def softmax(seen):
    """calculate_softmax: per softmax row of n features, n exps, n − 1 adds, n divides."""
    if seen.layer.dim is None:
        refuse("thop", "Softmax", "with dim=None: thop reads x.size()[m.dim] and fails")
    x = seen.inputs[0]
    n = x[seen.layer.dim]
    return (elements(x) // n) * (3 * n - 1)


@rule("thop", *AVG_POOL)
def avg_pool(seen):
    """count_avgpool: 1 per output element."""
    return elements(seen.output)


@rule("thop", *ADAPTIVE_AVG_POOL)
def adaptive_avg_pool(seen):
    """count_adap_avgpool: int((prod(input spatial / output spatial) + 1) × output elements), in
    float64 as thop computes it (a fraction when the sizes do not divide)."""
    x, y = seen.inputs[0], seen.output
    if not all(isinstance(d, int) for d in (*x, *y)):
        refuse("thop", seen.layer.kind, "needs concrete sizes: thop truncates a float64 product")
    kernel = 1.0
    for a, b in zip(x[2:], y[2:]):
        kernel *= a / b
    return int((kernel + 1) * elements(y))


@rule("thop", "Upsample")
def upsample(seen):
    """calculate_upsample: output elements × 1 (nearest), 5 (linear), 11 (bilinear), 259 (bicubic);
    count_upsample takes any other mode (trilinear, area, nearest-exact) as 0."""
    per = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 224 + 35}.get(seen.layer.mode, 0)
    return per * elements(seen.output)
