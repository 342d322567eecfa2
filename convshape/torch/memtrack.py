"""Referees for convshape's memory figures, measured on a live torch module (CPU, exact).

`live_peak` runs a forward (or a training step) under a TorchDispatchMode that follows every
storage the dispatcher returns until torch frees it (a weakref on the storage, whose Python object
torch keeps while the storage lives), so its peak is the largest sum of distinct live storages:
parameters, buffers, the input, activations, tensors autograd holds, gradients and optimizer state.
Allocations internal to one kernel (workspaces) are not visible here; docs/memory.md says so.

`saved_bytes` counts what autograd saves for backward (torch.autograd.graph.saved_tensors_hooks),
as distinct storages excluding the module's parameters and buffers, attributed to the module
(layer) whose forward saved it first.
"""
from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveStorages(TorchDispatchMode):
    """The current and peak bytes of distinct live storages while the mode is active."""

    def __init__(self, resident=()):
        super().__init__()
        self.live: dict[int, int] = {}      # id of the storage's Python object -> bytes
        self._refs: dict[int, weakref.ref] = {}
        self.current = 0
        self.peak = 0
        for t in resident:
            self._track(t)
        self.peak = self.current

    def _track(self, t):
        st = t.untyped_storage()
        key = id(st)
        if key in self.live or st.nbytes() == 0:
            return
        size = st.nbytes()
        self.live[key] = size
        self.current += size
        self._refs[key] = weakref.ref(st, lambda _r, key=key: self._free(key))

    def _free(self, key):
        self.current -= self.live.pop(key, 0)
        self._refs.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self._track(t)
        self.peak = max(self.peak, self.current)
        return out


def resident_tensors(module: torch.nn.Module) -> list:
    return list(module.parameters()) + list(module.buffers())


def _inputs(x) -> list:
    """The input tensors: one tensor, or a tuple of them for a network with several inputs."""
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _loss(out):
    """The sum of every output's sum: one output, or a tuple of them."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    loss = outs[0].sum()
    for o in outs[1:]:
        loss = loss + o.sum()
    return loss


def inference_peak(module: torch.nn.Module, x) -> int:
    """Peak bytes of one eval-mode forward under no_grad: weights, buffers, inputs, activations."""
    module.eval()
    with torch.no_grad(), LiveStorages(resident_tensors(module) + _inputs(x)) as mode:
        out = module(*_inputs(x))
        del out
    return mode.peak


def training_step_peak(module: torch.nn.Module, x, optimizer=None, steps: int = 2) -> int:
    """Peak bytes over forward, backward (the sum of every output's sum as the loss) and optimizer step, from the
    second step on: the first step creates the gradients and optimizer state that every later step
    holds. Gradients are set to None after each step (torch's default zero_grad)."""
    module.train()
    peak = 0
    for _ in range(steps):
        with LiveStorages(resident_tensors(module) + _inputs(x) + _optimizer_state(optimizer)) as mode:
            loss = _loss(module(*_inputs(x)))
            loss.backward()
            del loss
            if optimizer is not None:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            else:
                module.zero_grad(set_to_none=True)
        peak = mode.peak
    return peak


def _optimizer_state(optimizer) -> list:
    if optimizer is None:
        return []
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def saved_bytes(module: torch.nn.Module, x, names=None) -> tuple[int, dict]:
    """(total, per layer) bytes autograd saves for backward in one forward, as distinct storages
    excluding parameters and buffers. `names` (default: every leaf module) maps a module to the
    layer it stands for, or to a list of layers, one per call in order (a module called several
    times: shared weights); a storage counts for the first layer that saves it."""
    state = {t.untyped_storage().data_ptr() for t in resident_tensors(module)}
    per_layer: dict[str, int] = {}
    seen: dict[int, int] = {}
    current = ["<outside>"]
    keep = []   # the saved tensors stay alive until counted, so no address is reused meanwhile
    leaves = names or {m: n for n, m in module.named_modules() if not list(m.children())}
    handles = []
    for m, name in leaves.items():
        calls = [name] if isinstance(name, str) else list(name)
        count = [0]

        def enter(_m, _a, calls=calls, count=count):
            current[0] = calls[count[0] % len(calls)]
            count[0] += 1
        handles.append(m.register_forward_pre_hook(enter))

    def pack(t):
        st = t.untyped_storage()
        ptr = st.data_ptr()
        if ptr not in state and ptr not in seen and st.nbytes():
            seen[ptr] = st.nbytes()
            per_layer[current[0]] = per_layer.get(current[0], 0) + st.nbytes()
            keep.append(t)
        return t

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = module(*_inputs(x))
        del out
    finally:
        for h in handles:
            h.remove()
    return sum(seen.values()), per_layer


def mixed_precision_step_peak(module: torch.nn.Module, x: torch.Tensor, make_optimizer, steps: int = 2) -> int:
    """Peak bytes of a training step with the model in x's (half) dtype and float32 master weights:
    forward and backward in the half dtype, each gradient cast to float32 onto its master, the
    optimizer steps the masters, which are copied back into the model. From the second step on."""
    module.train()
    params = [p for p in module.parameters() if p.requires_grad]
    masters = [p.detach().float().requires_grad_() for p in params]
    optimizer = make_optimizer(masters)
    peak = 0
    for _ in range(steps):
        with LiveStorages(resident_tensors(module) + _inputs(x) + masters + _optimizer_state(optimizer)) as mode:
            loss = _loss(module(*_inputs(x)))
            loss.backward()
            del loss
            for p, m in zip(params, masters):
                m.grad = None if p.grad is None else p.grad.float()   # None: a module forward never calls
                p.grad = None
            optimizer.step()
            with torch.no_grad():
                for p, m in zip(params, masters):
                    p.copy_(m)
            optimizer.zero_grad(set_to_none=True)
        peak = mode.peak
    return peak
