"""Other tools' figures from a Report (`convshape summary --convention TOOL`, `report.convention(TOOL)`).

One module per tool holds its rules, one function per group of layer kinds (registry.py): torchinfo,
fvcore, ptflops (both backends), thop and torch's FlopCounterMode. docs/conventions.md says what
each counts; the numbers are checked against the tools themselves in tests/test_conventions_live.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..dims import to_json, total
from ..report_views import ConventionViews
from . import torchinfo, fvcore, ptflops, thop, flop_counter  # noqa: F401,I001  (they register, in this order)
from .kinds import STRIDED, VIEWS
from .registry import CONVENTIONS, Seen, figure_of

TOOLS = tuple(CONVENTIONS)


@dataclass
class ConventionCount(ConventionViews):
    """One tool's figure for each layer (None: the tool does not count that kind) and in total; in a
    notebook it shows the report's table with the tool's column (report_views.ConventionViews)."""
    tool: str
    figure: str
    measures: str
    layers: dict                  # layer name -> int, sympy expression, or None (not counted)
    total: object
    not_counted: dict = field(default_factory=dict)   # kind in this network -> why the tool skips it (first seen)
    report: object = field(default=None, repr=False, compare=False)   # the Report counted, for the views

    def to_dict(self) -> dict:
        return {"tool": self.tool, "figure": self.figure, "measures": self.measures, "total": to_json(self.total),
                "layers": {n: None if v is None else to_json(v) for n, v in self.layers.items()},
                "not_counted": dict(self.not_counted)}


def count(report, tool: str, network=None) -> ConventionCount:
    """`tool`'s figure for every layer of `report` (its network: `report.source_network` unless given)."""
    from ..errors import SpecError
    if tool not in CONVENTIONS:
        from ..spec.network import suggest
        raise SpecError(f"unknown convention {tool!r}{suggest(tool, CONVENTIONS)}; choose from {', '.join(TOOLS)}")
    network = network if network is not None else report.source_network
    nodes = {n.name: n for n in network.nodes}
    shapes = dict(report.inputs) or {"input": report.input_shape}
    conv = CONVENTIONS[tool]
    batches = {s[0] for s in shapes.values()}
    if conv.batch_one and batches != {1}:
        from ..errors import ConventionError
        raise ConventionError(f"--convention {tool}: {tool} measures a batch of 1 (get_model_complexity_info "
                              f"builds it), but the input's batch is {', '.join(map(str, sorted(batches, key=str)))}: "
                              f"use an input with batch 1")
    values: dict = {}
    skipped: dict = {}
    contiguous = dict.fromkeys(shapes, True)
    for r in report.layers:
        ins = [shapes[i] for i in r.inputs]
        shapes[r.name] = r.output_shape
        dense = all(contiguous[i] for i in r.inputs)
        contiguous[r.name] = r.type not in STRIDED and (dense or r.type not in VIEWS)
        layer = nodes[r.name].layer
        p = layer.params(ins)
        seen = Seen(layer=layer, inputs=ins, output=r.output_shape, params=p.trainable + p.frozen, macs=r.macs,
                    contiguous=dense)
        values[r.name], why = figure_of(tool, r.type, seen)
        if why is not None:
            skipped.setdefault(r.type, why)
    return ConventionCount(tool, conv.figure, conv.measures, values,
                           total(v for v in values.values() if v is not None), skipped, report)
