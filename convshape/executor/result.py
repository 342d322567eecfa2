"""RunReport and SweepReport: what the executor measured, the one data model its renderers read."""
from __future__ import annotations

import math
from dataclasses import dataclass, field


def _num(x, digits: int = 6):
    """JSON-safe float: None for missing or non-finite values, rounded to `digits` significant digits."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


class Rates:
    """Achieved TFLOP/s and roofline efficiency, from `flops`, `time_ms` and `roofline_floor_ms`."""

    @property
    def tflops(self):
        return self.flops / (self.time_ms * 1e-3) / 1e12 if self.time_ms else None

    @property
    def roofline_efficiency(self):
        if not self.time_ms or not self.roofline_floor_ms:
            return None
        return self.roofline_floor_ms / self.time_ms


@dataclass
class LayerRun(Rates):
    name: str
    type: str
    predicted_shape: tuple
    output_shape: tuple | None        # observed on the torch path; None when torch failed
    confirmed: bool
    max_rel_error: float | None       # max |reference - torch| / max |torch|
    flops: int = 0                    # predicted: 2 * MACs + other_ops
    bytes: int = 0                    # minimal traffic: inputs + weights read once, output written once
    time_ms: float | None = None      # torch module, median over repeats
    reference_time_ms: float | None = None
    roofline_floor_ms: float | None = None
    bound: str | None = None          # which roof sets the floor: "compute" or "memory"
    error: str | None = None          # why it is unconfirmed, in one line

    def to_dict(self) -> dict:
        return {
            "name": self.name, "type": self.type,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "predicted_shape": list(self.predicted_shape), "confirmed": self.confirmed,
            "max_rel_error": _num(self.max_rel_error, 3), "time_ms": _num(self.time_ms),
            "reference_time_ms": _num(self.reference_time_ms), "tflops": _num(self.tflops),
            "roofline_floor_ms": _num(self.roofline_floor_ms), "roofline_efficiency": _num(self.roofline_efficiency, 4),
            "roofline_bound": self.bound, "flops": self.flops, "bytes": self.bytes, "error": self.error,
        }


@dataclass
class RunTotals(Rates):
    layers: int
    confirmed: int
    flops: int
    bytes: int
    time_ms: float | None              # sum of per-layer medians
    reference_time_ms: float | None
    roofline_floor_ms: float | None
    pass_ms: float | None              # median instrumented forward pass
    plain_pass_ms: float | None        # median forward pass without per-layer clocks
    peak_memory_bytes: int | None
    predicted_peak_bytes: int           # params + buffers + largest live set of predicted activations
    activation_plus_param_bytes: int    # every activation kept (as in training) + params
    memory_method: str

    @property
    def overhead(self):
        if not self.pass_ms or not self.plain_pass_ms:
            return None
        return self.pass_ms / self.plain_pass_ms - 1

    def to_dict(self) -> dict:
        return {
            "layers": self.layers, "confirmed": self.confirmed, "unconfirmed": self.layers - self.confirmed,
            "flops": self.flops, "bytes": self.bytes, "time_ms": _num(self.time_ms),
            "reference_time_ms": _num(self.reference_time_ms), "tflops": _num(self.tflops),
            "roofline_floor_ms": _num(self.roofline_floor_ms),
            "roofline_efficiency": _num(self.roofline_efficiency, 4), "pass_ms": _num(self.pass_ms),
            "plain_pass_ms": _num(self.plain_pass_ms), "instrumentation_overhead": _num(self.overhead, 4),
            "peak_memory_bytes": self.peak_memory_bytes, "predicted_peak_bytes": self.predicted_peak_bytes,
            "activation_plus_param_bytes": self.activation_plus_param_bytes, "memory_method": self.memory_method,
        }


@dataclass
class RunReport:
    network: str
    input_shape: tuple
    device: str
    device_name: str
    dtype: str
    seed: int
    tolerance: float
    layers: list
    totals: RunTotals
    calibration: dict = field(default_factory=dict)   # peak FLOP/s for this dtype, bandwidth, cache key
    warnings: list = field(default_factory=list)      # one line each, e.g. a calibration that looks low

    @property
    def all_confirmed(self) -> bool:
        return all(r.confirmed for r in self.layers)

    def to_dict(self) -> dict:
        return {
            "network": self.network, "input": list(self.input_shape), "device": self.device,
            "device_name": self.device_name, "dtype": self.dtype, "seed": self.seed, "tolerance": self.tolerance,
            "confirmed": self.all_confirmed, "calibration": self.calibration, "warnings": self.warnings,
            "layers": [r.to_dict() for r in self.layers], "totals": self.totals.to_dict(),
        }


@dataclass
class SweepPoint:
    input_shape: tuple
    predicted: tuple | None        # network output shape, None when convshape says the input is invalid
    observed: tuple | None         # on the meta device, None when torch raised
    confirmed: bool
    layer: str | None = None       # first layer where prediction and torch part ways
    detail: str | None = None

    def to_dict(self) -> dict:
        return {"input": list(self.input_shape),
                "predicted": list(self.predicted) if self.predicted is not None else None,
                "observed": list(self.observed) if self.observed is not None else None,
                "confirmed": self.confirmed, "layer": self.layer, "detail": self.detail}


@dataclass
class SweepReport:
    network: str
    axes: dict                     # name -> list of values
    points: list
    seconds: float
    method: str                    # "symbolic" (one analysis, substituted) or "concrete" (one per point)

    @property
    def all_confirmed(self) -> bool:
        return all(p.confirmed for p in self.points)

    def to_dict(self) -> dict:
        return {"network": self.network, "sweep": {k: list(v) for k, v in self.axes.items()},
                "method": self.method, "points": [p.to_dict() for p in self.points],
                "confirmed": sum(p.confirmed for p in self.points), "total": len(self.points),
                "seconds": _num(self.seconds, 4)}
