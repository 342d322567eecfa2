"""Reference executor: run a spec with convshape's own kernels beside torch.nn, confirm every
prediction, and time each layer against the device's roofline (`convshape run`, `convshape calibrate`).

torch is needed here (the `torch` extra); nothing else in convshape imports this package.
"""
from .calibrate import Calibration, calibration_for, measure
from .kernels import KERNELS, reference
from .result import LayerRun, RunReport, RunTotals, SweepPoint, SweepReport
from .runner import TOLERANCE, run

__all__ = ["run", "measure", "calibration_for", "Calibration", "KERNELS", "reference", "TOLERANCE",
           "RunReport", "RunTotals", "LayerRun", "SweepReport", "SweepPoint"]
