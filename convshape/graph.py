"""The network graph: named nodes in topological order, each holding one validated layer model."""
from __future__ import annotations

from dataclasses import dataclass, field

INPUT = "input"


@dataclass(frozen=True)
class Node:
    name: str                       # full dotted name, e.g. "layer1.0.conv1" (torch module path)
    layer: object                   # a convshape.layers.base.Layer
    inputs: tuple                   # names of the nodes feeding it ("input" = network input)
    line: int | None = None         # where the layer is written in the spec
    column: int | None = None
    spec_path: tuple = ()           # field path of the layer entry in the spec document
    groups: tuple = ()              # ((instance name, block type), ...) from outermost block inwards
    # levels of the layer hierarchy from the outside in, for --depth: (name, type, is_repeat); a
    # repeated entry (`layer1`, Bottleneck, True) holds its instances (`layer1.0`, Bottleneck, False)
    scopes: tuple = ()
    call_line: int | None = None    # where the outermost block instance is written
    noqa: tuple = ()                # lint codes suppressed on this layer

    @property
    def kind(self) -> str:
        return self.layer.kind


@dataclass
class Network:
    name: str
    input_shape: tuple              # ints and symbol names (str)
    nodes: list
    file: str = "<spec>"
    source: object = None           # spec.source.SourceMap
    lint_config: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        self.index = {n.name: i for i, n in enumerate(self.nodes)}

    def node(self, name: str) -> Node:
        return self.nodes[self.index[name]]

    def consumers(self) -> dict:
        """name -> list of node names that read it."""
        out: dict = {INPUT: []}
        for n in self.nodes:
            out.setdefault(n.name, [])
            for i in n.inputs:
                out.setdefault(i, []).append(n.name)
        return out

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def location(self, node: Node) -> str:
        where = self.file
        if node.line is not None:
            where += f":{node.line}:{node.column}"
        return where
