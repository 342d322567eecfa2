"""torchinfo's "Mult-Adds" (`torchinfo.summary(...).total_mult_adds`), per leaf module.

torchinfo counts only modules with parameters named weight/bias (LayerInfo.calculate_macs):
a class name containing "Conv" pays params × batch × output positions; a Linear pays
params × prod(output[:-1]) (key `torchinfo`: the rule on torchinfo's main branch, whose
tests/test_output/linear.out says 294,912 for Linear(8, 64) on [32, 16, 8]); the 1.8.0 release
(key `torchinfo-1.8.0`) pays batch × params for every non-conv module, Linear included, so the
two agree on 2-D inputs. No weight/bias parameters: no count.
"""
from __future__ import annotations

from ..dims import prod
from .kinds import ACTIVATIONS, ADAPTIVE_AVG_POOL, ADAPTIVE_MAX_POOL, AVG_POOL, BATCH_NORM, CONV, CONV_TRANSPOSE, \
    DATA_MOVEMENT, DROPOUT, INSTANCE_NORM, MAX_POOL, batch, positions
from .registry import Uncounted, convention, not_counted, rule

TOOLS = ("torchinfo", "torchinfo-1.8.0")
convention("torchinfo", "mult-adds", "torchinfo.summary's Mult-Adds (main branch): per module with "
           "weight/bias parameters, from their count; a Linear × every output row")
convention("torchinfo-1.8.0", "mult-adds", "torchinfo 1.8.0 summary's Mult-Adds: as `torchinfo`, but a Linear "
           "pays batch × params")

for tool in TOOLS:
    not_counted(tool, tuple(k for k in ACTIVATIONS if k != "PReLU") + MAX_POOL + AVG_POOL + ADAPTIVE_AVG_POOL
                + ADAPTIVE_MAX_POOL + DATA_MOVEMENT + DROPOUT + ("Add", "Mul", "Sub", "Div", "Maximum", "Minimum",
                                                               "ScalarArith", "UnaryOp", "Upsample"),
                "no weight or bias parameters, and torchinfo counts mult-adds from those only")
    # ConvNeXt's layer scale: its parameter is `gamma`, a name torchinfo's rule does not read
    not_counted(tool, ("LayerScale",), "its parameter is named gamma, which torchinfo's rule does not read")


@rule("torchinfo", *CONV, *CONV_TRANSPOSE)
@rule("torchinfo-1.8.0", *CONV, *CONV_TRANSPOSE)
def conv(seen):
    """'Conv' in the class name: weight and bias elements × batch × output positions (the channel
    dimension skipped), so a transposed conv pays per output position, not per input element."""
    return seen.params * positions(seen.output)


@rule("torchinfo", "Linear")
def linear(seen):
    """weight and bias elements × every output row: prod(output[:-1]) × (in·out + out)."""
    return seen.params * prod(seen.output[:-1])


@rule("torchinfo", *BATCH_NORM, *INSTANCE_NORM, "GroupNorm", "LayerNorm", "PReLU", "Affine")
@rule("torchinfo-1.8.0", "Linear", *BATCH_NORM, *INSTANCE_NORM, "GroupNorm", "LayerNorm", "PReLU", "Affine")
def per_sample_params(seen):
    """any other module with weight/bias: batch × its parameters (not × elements); without affine: none."""
    return batch(seen) * seen.params if seen.params else Uncounted("no affine parameters")
