"""torch's own `torch.utils.flop_counter.FlopCounterMode` forward total (key `torch`): 2 FLOPs per
multiply-accumulate of mm, bmm, convolution and attention, bias and everything else ignored,
counted on the meta device. The kinds' rules are the MACs the layer contract test checks against
it; the counter's blind spots (COUNTER_BLIND_SPOTS in convshape/torch/agreement.py) are rules too.
"""
from __future__ import annotations

from ..layers.base import REGISTRY
from .registry import convention, refuse, rule

convention("torch", "FLOPs", "torch.utils.flop_counter.FlopCounterMode forward total (meta device): 2 × "
           "the multiply-accumulates of mm, bmm, convolution and attention")

BLIND = ("MatMul", "RelativePositionalMultiHeadAttention")


@rule("torch", *(k for k in REGISTRY if k not in BLIND))
def twice_the_macs(seen):
    """2 × MACs: the forward rule registered for every op convshape counts MACs of."""
    return 2 * seen.macs


@rule("torch", "MatMul")
def matmul(seen):
    """A 1-D second factor runs aten.mv, which FlopCounterMode does not count: 0."""
    return 0 if len(seen.inputs[1]) == 1 else 2 * seen.macs


@rule("torch", "RelativePositionalMultiHeadAttention")
def relative_attention(seen):
    """head_dim 1 makes the einsum a broadcast multiply the counter does not see."""
    if seen.layer.head_dim == 1:
        refuse("torch", "RelativePositionalMultiHeadAttention", "with head_dim 1: FlopCounterMode misses "
               "the einsum, and convshape has no exact count of what it still sees")
    return 2 * seen.macs
