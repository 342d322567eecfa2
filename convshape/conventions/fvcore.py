"""fvcore's `FlopCountAnalysis(model, x).total()` in eval mode: one "flop" per multiply-add of
the ops it has a handle for (fvcore/nn/flop_count.py `_DEFAULT_SUPPORTED_OPS`); every other op,
ReLU, max pooling, the residual add and the bias included, counts 0 (reported as unsupported).
"""
from __future__ import annotations

from .kinds import ACTIVATIONS, ADAPTIVE_MAX_POOL, AVG_POOL, BATCH_NORM, CONV, CONV_TRANSPOSE, \
    DATA_MOVEMENT, DROPOUT, ELEMENTWISE, INSTANCE_NORM, MAX_POOL, elements
from .registry import Uncounted, convention, not_counted, rule

convention("fvcore", "flops", "fvcore FlopCountAnalysis (eval mode): multiply-adds of conv, linear and "
           "matmul (no bias), per-element counts of norms, adaptive_avg_pool2d and 2-D upsampling")

not_counted("fvcore", ACTIVATIONS + MAX_POOL + AVG_POOL + ADAPTIVE_MAX_POOL + DATA_MOVEMENT + DROPOUT + ELEMENTWISE,
            "fvcore has no handle for their ops (it skips them as unsupported)")
not_counted("fvcore", ("AdaptiveAvgPool1d", "AdaptiveAvgPool3d"), "fvcore handles adaptive_avg_pool2d only")


@rule("fvcore", *CONV_TRANSPOSE, "Linear")
def multiply_adds(seen):
    """conv_flop_jit / linear_flop_jit: batch × prod(weight) × input positions, prod(input) ×
    out_features: the MACs, bias ignored."""
    return seen.macs


@rule("fvcore", *CONV)
def conv(seen):
    """conv_flop_jit: batch × prod(weight) × output positions, the MACs; but padding='same' or
    'valid' traces to aten::_convolution_mode, which fvcore has no handle for (None)."""
    if isinstance(seen.layer.padding, str):
        return Uncounted(f"padding={seen.layer.padding!r} traces to aten::_convolution_mode, which fvcore has "
                         f"no handle for")
    return seen.macs


@rule("fvcore", *BATCH_NORM)
def batch_norm(seen):
    """batchnorm_flop_jit: with running statistics (eval) 1 per input element, 2 when affine;
    without them batch_norm runs in training mode: 4 per element, 5 when affine."""
    per = 2 if seen.layer.affine else 1
    if not seen.layer.track_running_stats:
        per = 5 if seen.layer.affine else 4
    return per * elements(seen.inputs[0])


@rule("fvcore", *INSTANCE_NORM, "GroupNorm", "LayerNorm")
def norm(seen):
    """norm_flop_counter: 5 per input element when it has an affine weight, else 4."""
    affine = seen.layer.elementwise_affine if seen.layer.kind == "LayerNorm" else seen.layer.affine
    return (5 if affine else 4) * elements(seen.inputs[0])


@rule("fvcore", "AdaptiveAvgPool2d")
def adaptive_avg_pool2d(seen):
    """elementwise_flop_counter(1, 0): one per input element."""
    return elements(seen.inputs[0])


@rule("fvcore", "Upsample")
def upsample(seen):
    """F.interpolate on a 4-D input: upsample_nearest2d 1 and upsample_bilinear2d 4 per output
    element; mode area runs adaptive_avg_pool2d (1 per input element); other modes and ranks
    run ops fvcore has no handle for (None: not counted)."""
    mode = seen.layer.mode
    if len(seen.inputs[0]) == 4 and mode == "area":
        return elements(seen.inputs[0])
    if len(seen.inputs[0]) == 4 and mode in ("nearest", "bilinear"):
        return {"nearest": 1, "bilinear": 4}[mode] * elements(seen.output)
    return Uncounted(f"mode {mode!r} on a {len(seen.inputs[0])}-D input runs an op fvcore has no handle for")
