"""ptflops' `get_model_complexity_info(...)` MACs, both backends (ptflops 0.7.5, eval mode).

backend="pytorch" (its default, key `ptflops`): a hook per known module (pytorch_ops.MODULES_MAPPING)
plus patched torch.nn.functional calls (FUNCTIONAL_MAPPING); a module whose forward calls a patched
function (nn.ReLU calls F.relu, nn.MaxPool2d F.max_pool2d) is counted twice.
backend="aten" (key `ptflops-aten`): aten.convolution (bias included), addmm (bias included), mm, bmm.
get_model_complexity_info builds a batch of 1 itself (and the pytorch backend divides module counts by
the batch), so these conventions are defined at batch 1 only.
"""
from __future__ import annotations

from fractions import Fraction

from ..dims import prod
from .kinds import ADAPTIVE_AVG_POOL, ADAPTIVE_MAX_POOL, AVG_POOL, BATCH_NORM, CONV, CONV_TRANSPOSE, \
    DATA_MOVEMENT, DROPOUT, ELEMENTWISE, INSTANCE_NORM, MAX_POOL, elements
from .registry import convention, not_counted, refuse, rule

convention("ptflops", "MACs", "ptflops get_model_complexity_info, backend='pytorch' (the default): module "
           "hooks plus patched torch.nn.functional calls", batch_one=True)
convention("ptflops-aten", "MACs", "ptflops get_model_complexity_info, backend='aten': aten.convolution and "
           "addmm with their bias, mm, bmm", batch_one=True)

# ----------------------------------------------------------------------------- backend="pytorch"
not_counted("ptflops", ("Sigmoid", "Tanh", "Mish", "Hardswish", "Hardsigmoid", "LogSoftmax") + DATA_MOVEMENT
            + DROPOUT + ELEMENTWISE,
            "no module hook and no patched function (x + y, x * y, torch.sigmoid are not seen)")


@rule("ptflops", *CONV, *CONV_TRANSPOSE, "Linear")
def weighted(seen):
    """conv_flops_counter_hook / linear_flops_counter_hook: the MACs plus one add per output
    element for the bias (a transposed conv: per input position, as ours)."""
    return seen.macs + (elements(seen.output) if seen.layer.bias else 0)


@rule("ptflops", "ReLU", "PReLU", "ELU", "GELU")
def twice_per_output(seen):
    """relu_flops_counter_hook (output numel) and the patched F.relu / F.prelu / F.elu / F.gelu
    the module calls (input numel): 2 per element."""
    return 2 * elements(seen.output)


@rule("ptflops", "ReLU6", "LeakyReLU")
def once_per_output(seen):
    """the hook only: nn.ReLU6 calls F.hardtanh and nn.LeakyReLU F.leaky_relu, which are not patched."""
    return elements(seen.output)


@rule("ptflops", "SiLU", "Softmax")
def functional_only(seen):
    """no module hook, but the patched F.silu / F.softmax: 1 per input element."""
    return elements(seen.inputs[0])


@rule("ptflops", *MAX_POOL, *AVG_POOL, *ADAPTIVE_AVG_POOL, *ADAPTIVE_MAX_POOL)
def pool(seen):
    """pool_flops_counter_hook (input numel) and the patched F.*_pool*d the module calls (input
    numel): 2 per input element."""
    return 2 * elements(seen.inputs[0])


@rule("ptflops", *BATCH_NORM, *INSTANCE_NORM, "GroupNorm", "LayerNorm")
def norm(seen):
    """bn_flops_counter_hook: input numel, × 2 when `module.affine`; LayerNorm has no `affine`
    attribute (elementwise_affine), so it pays 1 per element whatever its weight."""
    affine = seen.layer.kind != "LayerNorm" and seen.layer.affine
    return (2 if affine else 1) * elements(seen.inputs[0])


@rule("ptflops", "Upsample")
def upsample(seen):
    """upsample_flops_counter_hook reads output[0], the first sample, so it pays output numel / batch;
    the patched F.interpolate adds N·C·prod(size), or input numel × scale ** spatial dims."""
    layer, x = seen.layer, seen.inputs[0]
    hook = prod(seen.output[1:])
    dims = len(x) - 2
    if layer.size is not None:
        size = layer.size if isinstance(layer.size, tuple) else (layer.size,) * dims
        return hook + prod(size) * x[0] * x[1]
    s = layer.scale_factor
    if isinstance(s, tuple) and len(s) == dims:
        product = Fraction(1)
        for f in s:
            product *= Fraction(f)
        interp = elements(x) * int(product)  # ptflops: int(np.prod(scale_factor))
    else:
        interp = elements(x) * Fraction(s[0] if isinstance(s, tuple) else s) ** dims
    if isinstance(interp, Fraction):
        if interp.denominator != 1:
            refuse("ptflops", "Upsample", f"scale_factor={s}: ptflops counts a fraction of an op "
                   f"({float(interp)}), which its total then truncates")
        interp = int(interp)
    return hook + interp


# ----------------------------------------------------------------------------- backend="aten"
not_counted("ptflops-aten", ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Mish", "Sigmoid",
                             "Tanh", "Hardswish", "Hardsigmoid", "Softmax", "LogSoftmax", "Upsample", "GroupNorm",
                             "LayerNorm") + BATCH_NORM + INSTANCE_NORM + MAX_POOL + AVG_POOL + ADAPTIVE_AVG_POOL
            + ADAPTIVE_MAX_POOL + DATA_MOVEMENT + DROPOUT + ELEMENTWISE,
            "they run no convolution, addmm, mm or bmm")


@rule("ptflops-aten", *CONV, *CONV_TRANSPOSE)
def convolution(seen):
    """aten_ops.conv_flop: the MACs plus batch × output elements per sample when there is a bias."""
    return seen.macs + (elements(seen.output) if seen.layer.bias else 0)


@rule("ptflops-aten", "Linear")
def linear(seen):
    """With a bias, a 2-D or contiguous N-D input runs addmm (MACs + one add per output element); a
    strided N-D input runs mm and a separate aten.add ptflops does not count; no bias: mm (MACs)."""
    if not seen.layer.bias:
        return seen.macs
    if len(seen.inputs[0]) > 2 and not seen.contiguous:
        refuse("ptflops-aten", "Linear", "on a strided N-D input (after a Permute or Narrow): torch may run "
               "mm + add (bias not counted) or copy first and run addmm (bias counted)")
    return seen.macs + elements(seen.output)
