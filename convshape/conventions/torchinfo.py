"""torchinfo's "Mult-Adds" (`torchinfo.summary(...).total_mult_adds`), per leaf module.

torchinfo counts only modules with parameters named weight/bias (LayerInfo.calculate_macs):
a class name containing "Conv" pays params × batch × output positions; a Linear pays
params × prod(output[:-1]) (the rule on torchinfo's main branch; the 1.8.0 release pays
batch × params, equal on 2-D inputs); any other module pays batch × params. No parameters: no count.
"""
from __future__ import annotations

from ..dims import prod
from .kinds import ACTIVATIONS, ADAPTIVE_AVG_POOL, ADAPTIVE_MAX_POOL, AVG_POOL, BATCH_NORM, CONV, CONV_TRANSPOSE, \
    DATA_MOVEMENT, DROPOUT, INSTANCE_NORM, MAX_POOL, batch, positions
from .registry import convention, not_counted, rule

convention("torchinfo", "mult-adds", "torchinfo.summary's Mult-Adds: per module with weight/bias parameters, "
           "from their count (main branch's Linear rule; 1.8.0: batch × params)")

not_counted("torchinfo", tuple(k for k in ACTIVATIONS if k != "PReLU") + MAX_POOL + AVG_POOL + ADAPTIVE_AVG_POOL
            + ADAPTIVE_MAX_POOL + DATA_MOVEMENT + DROPOUT + ("Add", "Mul", "Sub", "Div", "Maximum", "Minimum",
                                                           "ScalarArith", "UnaryOp", "Upsample"),
            "no parameters: torchinfo counts mult-adds from parameters only")
# ConvNeXt's layer scale: its parameter is `gamma`, a name torchinfo's rule does not read
not_counted("torchinfo", ("LayerScale",), "its parameter is named gamma, not weight/bias")


@rule("torchinfo", *CONV, *CONV_TRANSPOSE)
def conv(seen):
    """'Conv' in the class name: weight and bias elements × batch × output positions (the channel
    dimension skipped), so a transposed conv pays per output position, not per input element."""
    return seen.params * positions(seen.output) or None


@rule("torchinfo", "Linear")
def linear(seen):
    """weight and bias elements × every output row: prod(output[:-1]) × (in·out + out)."""
    return seen.params * prod(seen.output[:-1])


@rule("torchinfo", *BATCH_NORM, *INSTANCE_NORM, "GroupNorm", "LayerNorm", "PReLU")
def per_sample_params(seen):
    """any other module with weight/bias: batch × its parameters (not × elements); none without affine."""
    return batch(seen) * seen.params or None
