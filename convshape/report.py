"""Report: the one data model every reporter reads (renderers never compute)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dims import to_json
from .report_views import ReportViews

DTYPE_BYTES = {"float64": 8, "float32": 4, "bfloat16": 2, "float16": 2}


@dataclass
class ReceptiveField:
    size: tuple          # per spatial axis of the network input
    stride: tuple
    padding: tuple
    is_global: bool
    aligned: bool | None = None   # set at merges: do all paths share stride and centre?

    def to_dict(self) -> dict:
        d = {"size": [to_json(x) for x in self.size], "stride": [to_json(x) for x in self.stride],
             "padding": [to_json(x) for x in self.padding], "global": self.is_global}
        if self.aligned is not None:
            d["aligned"] = self.aligned
        return d


@dataclass
class LayerResult:
    name: str
    type: str
    inputs: tuple
    output_shape: tuple
    params: Any
    trainable_params: Any
    buffers: Any
    macs: Any
    other_ops: Any
    flops_backward: Any
    activation_elements: Any
    activation_bytes: Any
    receptive_field: ReceptiveField
    line: int | None = None
    column: int | None = None
    groups: tuple = ()
    scopes: tuple = ()   # graph.Node.scopes: hierarchy levels for --depth rows
    conditions: list = field(default_factory=list)
    inferred: dict = field(default_factory=dict)
    args: dict = field(default_factory=dict)

    @property
    def flops(self):
        return 2 * self.macs

    @property
    def non_trainable_params(self):
        return self.params - self.trainable_params

    def to_dict(self) -> dict:
        return {
            "name": self.name, "type": self.type, "inputs": list(self.inputs),
            "output_shape": [to_json(d) for d in self.output_shape],
            "params": to_json(self.params), "trainable_params": to_json(self.trainable_params),
            "buffers": to_json(self.buffers), "macs": to_json(self.macs), "flops": to_json(self.flops),
            "flops_backward": to_json(self.flops_backward), "other_ops": to_json(self.other_ops),
            "activation_bytes": to_json(self.activation_bytes),
            "receptive_field": self.receptive_field.to_dict(),
            "location": {"line": self.line, "column": self.column},
        }


@dataclass
class Totals:
    params: Any
    trainable_params: Any
    buffers: Any
    macs: Any
    flops_backward: Any
    other_ops: Any
    activation_elements: Any
    activation_bytes: Any
    param_bytes: Any

    @property
    def flops(self):
        return 2 * self.macs

    @property
    def non_trainable_params(self):
        return self.params - self.trainable_params

    def to_dict(self) -> dict:
        return {
            "params": to_json(self.params), "trainable_params": to_json(self.trainable_params),
            "non_trainable_params": to_json(self.non_trainable_params), "buffers": to_json(self.buffers),
            "macs": to_json(self.macs), "flops": to_json(self.flops),
            "flops_backward": to_json(self.flops_backward), "other_ops": to_json(self.other_ops),
            "activation_elements": to_json(self.activation_elements),
            "activation_bytes": to_json(self.activation_bytes), "param_bytes": to_json(self.param_bytes),
        }


@dataclass
class Report(ReportViews):
    network: str
    input_shape: tuple
    dtype: str
    layers: list
    totals: Totals
    file: str = "<spec>"
    conditions: list = field(default_factory=list)   # dims.Condition, for symbolic inputs
    symbols: tuple = ()
    failure: Any = None   # the ShapeError that ended analyze(on_error="stop") early; layers stop before it

    @property
    def output_shape(self):
        return self.layers[-1].output_shape

    def layer(self, name: str) -> LayerResult:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict:
        d = {"network": self.network, "input": [to_json(x) for x in self.input_shape], "dtype": self.dtype,
             "layers": [r.to_dict() for r in self.layers], "totals": self.totals.to_dict()}
        if self.conditions:
            d["conditions"] = [{"condition": str(c.expr), "message": c.message, "layer": getattr(c, "layer", None)}
                               for c in self.conditions]
        if self.failure is not None:
            d["failure"] = str(self.failure)
        return d
