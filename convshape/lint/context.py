"""What a rule sees: the Network, its (possibly partial) Report, the budgets, and small helpers.

Rules only read; they yield findings made with `ctx.at(node, message)` (the runner stamps the
rule's code, name and severity on them).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..dims import to_json
from ..graph import INPUT
from .result import Finding


@dataclass(frozen=True)
class Budgets:
    max_params: int | None = None
    max_macs: int | None = None
    max_activation_bytes: int | None = None
    min_receptive_field: int | None = None
    max_train_memory: int | None = None
    where: dict | None = None       # budget name -> (line, column) where the spec's lint: section sets it


class Context:
    def __init__(self, network, report, budgets: Budgets | None = None):
        self.network = network
        self.report = report
        self.failure = report.failure            # ShapeError that stopped analysis, or None
        self.budgets = budgets or Budgets()
        self.results = {r.name: r for r in report.layers}
        self.consumers = network.consumers()
        self.findings: list = []                 # earlier rules' findings, for runs_last rules

    # ---- graph and shapes
    def analyzed(self):
        """(node, LayerResult) for every layer the analysis reached, in order."""
        for r in self.report.layers:
            yield self.network.node(r.name), r

    def failing_node(self):
        return self.network.node(self.failure.layer) if self.failure is not None else None

    def output_of(self, name: str):
        if name == INPUT:
            return tuple(self.report.input_shape)
        if name in self.report.inputs:  # one of several named inputs
            return tuple(self.report.inputs[name])
        r = self.results.get(name)
        return None if r is None else tuple(r.output_shape)

    def input_shapes(self, node) -> list:
        return [self.output_of(i) for i in node.inputs]

    def rf_of(self, name: str):
        """Receptive field of a tensor (None for the network input: one pixel)."""
        r = self.results.get(name)
        return None if r is None else r.receptive_field

    def producer(self, node):
        """The layer feeding a single-input node (None when it reads the network input)."""
        if len(node.inputs) != 1 or node.inputs[0] not in self.network.index:  # a network input
            return None
        return self.network.node(node.inputs[0])

    def flatten_before(self, node):
        """The Flatten feeding `node` through dropout, activations and Identity, or None."""
        from .kinds import Activation, Dropout, Flatten, Identity
        p = self.producer(node)
        while p is not None and isinstance(p.layer, (Dropout, Activation, Identity)):
            p = self.producer(p)
        return p if p is not None and isinstance(p.layer, Flatten) else None

    def sole_consumer(self, node):
        users = self.consumers.get(node.name, [])
        return self.network.node(users[0]) if len(users) == 1 else None

    def label(self, name: str) -> str:
        if name == INPUT:
            return "the network input"
        if name not in self.network.index:
            return f"the network input '{name}'"
        return f"'{name}' ({self.network.node(name).kind})"

    # ---- findings
    def position(self, node, argument: str | None = None):
        if argument and argument in getattr(node.layer, "model_fields_set", ()) and self.network.source is not None:
            line, col = self.network.source.where(tuple(node.spec_path) + (node.kind, argument))
            if line is not None:
                return line, col
        return node.line, node.column

    def at(self, node, message: str, argument: str | None = None) -> Finding:
        """A finding about one layer, located at `argument` when the spec writes it, else at the layer."""
        line, col = self.position(node, argument)
        r = self.results.get(node.name)
        if r is None and self.failure is not None and self.failure.layer == node.name:
            ins = self.failure.input_shapes
        else:
            ins = self.input_shapes(node)
        return Finding(code="", message=message, file=self.network.file, line=line, column=col,
                       layer=node.name, kind=node.kind,
                       input_shapes=None if ins is None else tuple(tuple(s) for s in ins if s is not None),
                       output_shape=None if r is None else tuple(r.output_shape), argument=argument)

    def at_network(self, message: str, budget: str | None = None) -> Finding:
        """A finding about the whole network: at the budget's key in the spec's lint: section, else line 1."""
        where = (self.budgets.where or {}).get(budget) if budget else None
        line, col = where if where else (1, 1)
        return Finding(code="", message=message, file=self.network.file, line=line, column=col)


# ---- formatting helpers shared by the rules
SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def axis_names(n: int) -> tuple:
    return SPATIAL_NAMES.get(n, tuple(f"axis {i}" for i in range(n)))


def fmt_int(x) -> str:
    v = to_json(x)
    return f"{v:,}" if isinstance(v, int) else str(v)


def fmt_dim(x) -> str:
    return str(to_json(x))


def by_axis(values) -> str:
    """(3, 3) -> '3×3'."""
    return "×".join(fmt_dim(v) for v in values)


def fmt_shape(shape) -> str:
    """[1, 64, 56, 56]; symbolic sizes as people read them: [N, 64, ⌊H/2 - 1/2⌋ + 1, ...]."""
    from ..render.cells import readable
    return "[" + ", ".join(fmt_dim(d) if type(d) is int else readable(fmt_dim(d)) for d in shape) + "]"
