"""Reference kernels: every layer kind computed from its definition with tensor primitives only.

A kernel is `fn(layer, xs, state) -> Tensor`: the convshape layer model (its fields are torch.nn's
constructor arguments), the input tensors, and the layer's weights and buffers by torch's names
(`weight`, `bias`, `running_mean`, ...); a MaxPool with return_indices returns (values, int64
indices), as torch does, and a MaxUnpool reads those indices as its second input. Kernels never
call torch.nn or torch.nn.functional: they use views (unfold, as_strided, reshape), matmul,
reductions and element-wise math, so that agreeing with torch.nn is evidence, not tautology.

`@reference("Kind", ...)` registers a kernel under layer kinds (`ranks("Conv")` spells Conv1d..3d);
a kind registered twice raises. Importing this package fills KERNELS, one module per family.
"""
from __future__ import annotations

from typing import Callable

KERNELS: dict[str, Callable] = {}


def reference(*kinds: str):
    """Decorator: register `fn` as the reference kernel of these layer kinds."""
    def register(fn):
        for kind in kinds:
            if kind in KERNELS:
                raise ValueError(f"reference kernel for {kind} is registered twice")
            KERNELS[kind] = fn
        return fn
    return register


def ranks(stem: str, ns=(1, 2, 3)) -> tuple[str, ...]:
    """`ranks("Conv")` -> ("Conv1d", "Conv2d", "Conv3d"), the names register_ranks gives."""
    return tuple(f"{stem}{n}d" for n in ns)


def kernel_for(kind: str) -> Callable:
    try:
        return KERNELS[kind]
    except KeyError:
        raise NotImplementedError(f"no reference kernel for layer kind {kind}: "
                                  "add one in convshape/executor/kernels/") from None


from . import (activation, arith, attention, conv, linear, merge, norm, pad, pool, position,  # noqa: E402,F401
               recurrent, reduce, resample, shape, window_attention)
