"""convshape: exact shapes, parameters, MACs/FLOPs, memory and receptive fields of CNN specs."""
from __future__ import annotations

from .analysis import analyze
from .errors import ConvshapeError, ShapeError, SpecError
from .graph import Network, Node
from .report import Report
from .spec import load, loads, zoo_names

__version__ = "0.1.0"

__all__ = ["load", "loads", "analyze", "zoo_names", "Network", "Node", "Report",
           "ConvshapeError", "SpecError", "ShapeError", "__version__"]
