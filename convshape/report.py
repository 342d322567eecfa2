"""Report: the one data model every reporter reads (renderers never compute)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dims import to_json
from .report_views import ReportViews

DTYPE_BYTES = {"float64": 8, "float32": 4, "bfloat16": 2, "float16": 2}


class LazyMemory:
    """The memory figures of one analysis (convshape/memory), computed on first read and kept: an
    analysis whose memory fields nobody reads does no memory work."""

    def __init__(self, compute):
        self._compute, self._value = compute, None

    def value(self):
        if self._compute is not None:
            self._value, self._compute = self._compute(), None
        return self._value


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
    shares: str | None = None   # the layer whose weights this call reuses (its params count there)
    frozen: bool = False        # the spec froze it: its parameters are non-trainable
    memory_pass: Any = field(default=None, repr=False, compare=False)   # LazyMemory, shared by the report

    @property
    def saved_bytes(self):
        """What autograd keeps for backward in train mode, first keeper counts (memory/); None when
        memory is not modelled for the network."""
        mem = self.memory_pass.value() if self.memory_pass is not None else None
        return mem.saved_by_layer[self.name] if mem is not None else None

    @property
    def inference_peak_unknown(self) -> tuple:
        """Imported layers whose value torch copies in an op no layer stands for (x + 0, torch.cat([x]), a
        .contiguous() that copies): the copy is not counted, so the inference peak may be low."""
        mem = self._memory()
        return mem.peak_unknown if mem is not None else ()

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
            "activation_bytes": to_json(self.activation_bytes), "saved_bytes": to_json(self.saved_bytes),
            "receptive_field": self.receptive_field.to_dict(),
            "location": {"line": self.line, "column": self.column},
            **({"shares": self.shares} if self.shares is not None else {}),
            **({"frozen": True} if self.frozen else {}),
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
    memory_pass: Any = field(default=None, repr=False, compare=False)   # LazyMemory (docs/memory.md)

    def _memory(self):
        return self.memory_pass.value() if self.memory_pass is not None else None

    @property
    def inference_peak_bytes(self):
        """Eager inference peak: parameters, buffers and the largest set of live storages."""
        mem = self._memory()
        return mem.inference_peak_bytes if mem is not None else None

    @property
    def saved_bytes(self):
        """Train-mode bytes autograd keeps for backward, distinct storages."""
        mem = self._memory()
        return mem.saved_bytes if mem is not None else None

    @property
    def saved_unknown(self) -> tuple:
        """Layers whose saved tensors or temporaries are not modelled (the figures exclude them)."""
        mem = self._memory()
        return mem.unknown if mem is not None else ()

    @property
    def inference_peak_unknown(self) -> tuple:
        """Imported layers whose value torch copies in an op no layer stands for (x + 0, torch.cat([x]), a
        .contiguous() that copies): the copy is not counted, so the inference peak may be low."""
        mem = self._memory()
        return mem.peak_unknown if mem is not None else ()

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
            "inference_peak_bytes": to_json(self.inference_peak_bytes), "saved_bytes": to_json(self.saved_bytes),
            **({"saved_bytes_unknown": list(self.saved_unknown)} if self.saved_unknown else {}),
            **({"inference_peak_unknown": list(self.inference_peak_unknown)} if self.inference_peak_unknown else {}),
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
    outputs: list = field(default_factory=list)        # names of the output layers, in order
    unread: list = field(default_factory=list)         # layers computed (and counted) whose result no output reads
    unused_params: list = field(default_factory=list)  # {"module", "params", "trainable_params", "buffers"}
    inputs: dict = field(default_factory=dict)         # several named inputs: name -> shape ({} for one)
    # the Network analyzed, for Report.at() and Report.convention(); not part of the JSON contract
    source_network: Any = field(default=None, repr=False, compare=False)

    @property
    def output_shape(self):
        """The shape of the (first) output."""
        return self.layer(self.outputs[0]).output_shape if self.outputs else self.layers[-1].output_shape

    @property
    def output_shapes(self) -> dict:
        return {name: self.layer(name).output_shape for name in self.outputs}

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
        if self.outputs and list(self.outputs) != [self.layers[-1].name]:  # else: the last layer, as ever
            d["outputs"] = [{"name": n, "output_shape": [to_json(x) for x in s]}
                            for n, s in self.output_shapes.items()]
        if self.inputs:
            d["inputs"] = [{"name": n, "shape": [to_json(x) for x in s]} for n, s in self.inputs.items()]
        if self.unread:
            d["unread"] = list(self.unread)
        if self.unused_params:
            d["unused_params"] = [{k: to_json(v) if k != "module" else v for k, v in u.items()}
                                  for u in self.unused_params]
        return d
