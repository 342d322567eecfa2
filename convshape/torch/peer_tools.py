"""Run the other counting tools (torchinfo, fvcore, ptflops, thop, FlopCounterMode) on a built
network: the referee for convshape/conventions/. Each tool runs on the whole model (its total) and
on every node's module alone, called with the inputs it got in the whole run (its per-layer figure).
A tool that is not installed raises ImportError. Batch 1 only: ptflops always builds batch 1.
"""
from __future__ import annotations

import contextlib
import copy
import io
import warnings

import torch
from torch import nn

TOOLS = ("torch", "torchinfo", "fvcore", "ptflops", "ptflops-aten", "thop")
PACKAGE = {"torch": "torch", "torchinfo": "torchinfo", "fvcore": "fvcore", "ptflops": "ptflops",
           "ptflops-aten": "ptflops", "thop": "thop"}   # tool -> the package that must be importable


def installed(tool: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(PACKAGE[tool]) is not None


def convention_key(tool: str) -> str:
    """The --convention key that models the installed version of `tool`."""
    if tool == "torchinfo":
        import importlib.metadata
        return "torchinfo-1.8.0" if importlib.metadata.version("torchinfo") == "1.8.0" else "torchinfo"
    return tool


@contextlib.contextmanager
def quiet():
    """The tools print tables and warnings (fvcore's jit notices, thop's "Cannot find rule")."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


class Call(nn.Module):
    """`inner(*args)` behind a one-tensor forward, so every tool can run one node's module alone."""

    def __init__(self, inner: nn.Module, args: tuple):
        super().__init__()
        self.inner = inner
        self.args = args

    def forward(self, _ignored):
        out = self.inner(*self.args)
        # an identity (eval Dropout) returns its input, which jit tracing (fvcore) refuses as an output
        return out.clone() if any(out is a for a in self.args) else out


def total(tool: str, model: nn.Module, x: torch.Tensor) -> int:
    """`tool`'s figure for `model(x)`, in eval mode and without gradients, on a copy of the model."""
    model = copy.deepcopy(model).eval()
    with quiet(), torch.no_grad():
        if tool == "torch":
            from torch.utils.flop_counter import FlopCounterMode
            with FlopCounterMode(display=False) as fc:
                model(x)
            return int(fc.get_total_flops())
        if tool == "torchinfo":
            import torchinfo
            return int(torchinfo.summary(model, input_data=[x], verbose=0).total_mult_adds)
        if tool == "fvcore":
            from fvcore.nn import FlopCountAnalysis
            fa = FlopCountAnalysis(model, (x,))
            fa.unsupported_ops_warnings(False)
            fa.uncalled_modules_warnings(False)
            return int(fa.total())
        if tool in ("ptflops", "ptflops-aten"):
            from ptflops import get_model_complexity_info
            macs, _ = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False,
                                                print_per_layer_stat=False, input_constructor=lambda _: x,
                                                backend="aten" if tool == "ptflops-aten" else "pytorch")
            if macs is None:
                raise RuntimeError(f"{tool} failed on {type(model).__name__}")
            return int(macs)
        if tool == "thop":
            import thop
            macs, _ = thop.profile(model, inputs=(x,), verbose=False)
            return int(macs)
    raise ValueError(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")


def node_inputs(model, network, x) -> dict:
    """Node name -> the tensors its module was called with in one eval run of the whole model."""
    seen: dict = {}
    handles = [model.node_module(n.name).register_forward_pre_hook(
        lambda m, args, name=n.name: seen.setdefault(name, tuple(a.detach() for a in args)))
        for n in network.nodes]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def per_layer(tool: str, model, network, x, inputs: dict | None = None) -> dict:
    """Node name -> `tool`'s figure for that node's module alone, called with its own inputs."""
    inputs = node_inputs(model, network, x) if inputs is None else inputs
    dummy = torch.zeros(1, 1)
    return {n.name: total(tool, Call(model.node_module(n.name), inputs[n.name]), dummy) for n in network.nodes}
