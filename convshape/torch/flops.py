"""Per-module FLOPs from torch.utils.flop_counter, and the places where that counter is known wrong.

`module_flops(model, x)` gives forward FLOPs per module name; `isolated_flops(module, inputs)` runs
one module alone, forward and then forward + backward (backward = the difference, so the split does
not depend on which aten ops torch uses for each direction); `total_flops` does so for a network.

KNOWN_COUNTER_ERRORS lists the configurations where torch's own count is wrong, each with an
independent count to compare against instead. Each entry is tested in tests/test_torch_check.py
(the test asserts that torch is still wrong there, so a fixed torch shows up as a failing test).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def module_flops(model: nn.Module, x: torch.Tensor) -> dict:
    """Forward FLOPs per module path (relative to `model`; "" for the whole model)."""
    prefix = type(model).__name__
    with FlopCounterMode(display=False) as fc:
        model(x)
    counts = {}
    for key, ops in fc.get_flop_counts().items():
        if key == "Global":
            continue
        name = key[len(prefix) + 1:] if key.startswith(prefix + ".") else ("" if key == prefix else key)
        counts[name] = sum(ops.values())
    return counts


def total_flops(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(forward, backward) FLOPs of the whole model; parameters require grad, `x` as given."""
    with FlopCounterMode(display=False) as fc:
        model(x)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        out = model(x)
        outs = out if isinstance(out, (tuple, list)) else (out,)  # several outputs: one loss over all
        sum(o.float().sum() for o in outs if o.requires_grad).backward()
    return fwd, fc.get_total_flops() - fwd


def isolated_flops(module: nn.Module, inputs: list) -> tuple[int, int]:
    """(forward, backward) FLOPs of one module run alone on meta tensors shaped like `inputs`.

    FlopCounterMode attributes backward ops to modules with hooks that lose track at branches
    (a residual Add is charged with its branch's convolution backward), so per-layer backward is
    measured one module at a time, with the inputs requiring grad exactly where they do in the
    network; the network total is compared separately.
    """
    xs = [torch.empty(t.shape, device="meta", dtype=t.dtype, requires_grad=t.requires_grad) for t in inputs]
    with FlopCounterMode(display=False) as fc:
        out = _values(module(*xs))
    fwd = fc.get_total_flops()
    if not out.requires_grad:
        return fwd, 0
    with FlopCounterMode(display=False) as fc:
        _values(module(*xs)).float().sum().backward()
    return fwd, fc.get_total_flops() - fwd


def _values(out):
    """A module's output tensor; a pool with return_indices returns (values, int64 indices)."""
    return out[0] if isinstance(out, tuple) else out


@dataclass(frozen=True)
class CounterError:
    """A configuration where torch.utils.flop_counter is known to count wrong."""
    name: str
    applies: Callable[[nn.Module], bool]
    explanation: str
    independent: Callable[[nn.Module, tuple, bool], int]  # (module, input shape, input needs grad) -> bwd FLOPs


def _is_grouped_conv(m: nn.Module) -> bool:
    return isinstance(m, nn.modules.conv._ConvNd) and m.groups > 1


def _grouped_conv_backward(m: nn.Module, input_shape: tuple, input_grad: bool) -> int:
    """Backward FLOPs of a grouped conv counted as `groups` dense convs of one group each.

    A grouped convolution is exactly `groups` independent dense convolutions over C_in/g input and
    C_out/g output channels; torch counts a dense (groups=1) backward correctly, so one group's
    count times g is an independent figure.
    """
    g = m.groups
    one = copy.deepcopy(m).to("meta")
    one.groups = 1
    one.in_channels, one.out_channels = m.in_channels // g, m.out_channels // g
    # weight is (C_out, C_in/g, *k), transposed (C_in, C_out/g, *k): one group keeps 1/g of dim 0
    one.weight = nn.Parameter(torch.empty(m.weight.shape[0] // g, *m.weight.shape[1:], device="meta"),
                              requires_grad=m.weight.requires_grad)  # a frozen conv has no weight gradient
    one.bias = None  # bias gradient is a reduction: torch counts no FLOPs for it either way
    shape = list(input_shape)
    shape[-len(m.kernel_size) - 1] //= g
    x = torch.empty(shape, device="meta", requires_grad=input_grad)
    if not (input_grad or m.weight.requires_grad):
        return 0
    with FlopCounterMode(display=False) as fc:
        one(x)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        one(x).sum().backward()
    return g * (fc.get_total_flops() - fwd)


KNOWN_COUNTER_ERRORS = [
    CounterError(
        name="grouped-conv-backward",
        applies=_is_grouped_conv,
        explanation=("torch's conv_backward_flop counts the weight gradient of a grouped (or depthwise) "
                     "convolution as if groups were 1: backward = (1 + groups) x forward instead of 2 x "
                     "(torch 2.14; conv and transposed conv, 1-3d)"),
        independent=_grouped_conv_backward,
    ),
]


def known_error(module: nn.Module) -> CounterError | None:
    for e in KNOWN_COUNTER_ERRORS:
        if e.applies(module):
            return e
    return None
