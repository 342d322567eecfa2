"""convshape: exact shapes, parameters, MACs/FLOPs, memory and receptive fields of CNN specs."""
from __future__ import annotations

from .analysis import analyze
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
_TORCH_API = {"to_torch": "build", "from_torch": "importer", "check": "check", "verify": "verify"}


def __getattr__(name):
    if name in _TORCH_API:
        import importlib
        module = importlib.import_module(f".torch.{_TORCH_API[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'convshape' has no attribute {name!r}")
