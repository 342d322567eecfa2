"""convshape: exact shapes, parameters, MACs/FLOPs, memory and receptive fields of CNN specs,
before anything runs, and proved against live torch modules.

Quick start (docs/api.md has the whole API)::

    import convshape
    report = convshape.analyze("zoo:resnet18", "1,3,224,224")   # or a path, spec text, a Network,
    print(report)                                               # an nn.Module, "pkg.mod:factory"
    report.totals.params, report.totals.macs                    # exact ints: 11689512, 1814073344
    report.to_dataframe()                                       # one row per layer (pandas)
    convshape.analyze("zoo:resnet18", "N,3,H,W").at(N=1, H=224, W=224)   # symbolic, then concrete
    convshape.lint("model.yaml")                                # findings (rules: `convshape rules`)

Functions: analyze, load, loads, lint, zoo_names; with torch installed: to_torch, from_torch,
check, verify. Errors: ConvshapeError > SpecError (bad spec, exit 2), ShapeError (invalid network
for its input, exit 1). The command line: `convshape --help`.
"""
from __future__ import annotations

from .api import analyze
from .errors import ConvshapeError, ShapeError, SpecError
from .graph import Network, Node
from . import lint  # a callable module: convshape.lint("model.yaml") lints; convshape.lint.registry, ...
from .report import Report
from .spec import load, loads, zoo_names

__version__ = "0.1.0"

__all__ = ["load", "loads", "analyze", "lint", "zoo_names", "Network", "Node", "Report",
           "ConvshapeError", "SpecError", "ShapeError", "__version__",
           "to_torch", "from_torch", "check", "verify"]

# The torch bridge is imported on first use (PEP 562), so `import convshape` never imports torch.
TORCH_API = {"to_torch": "build", "from_torch": "importer", "check": "check", "verify": "verify"}


def __getattr__(name):
    if name in TORCH_API:
        import importlib
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ImportError(f"convshape.{name} needs PyTorch: pip install 'convshape[torch]'") from None
        module = importlib.import_module(f".torch.{TORCH_API[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'convshape' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
