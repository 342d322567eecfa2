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
    shares: str | None = None       # name of the earlier node whose weights this call reuses
    frozen: bool = False            # its parameters do not train (requires_grad=False)

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
    outputs: tuple = ()             # names of the output nodes; () = the last node
    inputs: tuple = ()              # several named inputs: ((name, shape), ...); input_shape is the first's
    # tensors of modules forward never calls (import): ((module path, params, trainable, buffers, int64 buffers), ...)
    unused_params: tuple = ()
    # imported (from_torch): the tracer used, and what eager torch was seen to do (docs/memory.md):
    frontend: str = field(default="", repr=False, compare=False)
    holds: dict | None = field(default=None, repr=False, compare=False)  # node -> index of the node it is freed after
    unseen_copies: tuple = field(default=(), repr=False, compare=False)  # nodes torch copies where no layer stands
    # imported: what forward runs only in train mode (not in the network): "train-only code in SCOPE (ops)"
    # lines; a lazy sequence from the importer (train_only_of reads it)
    train_only: tuple = field(default=(), repr=False, compare=False)

    def train_only_of(self) -> tuple:
        return tuple(self.train_only or ())

    def __post_init__(self):
        self.index = {n.name: i for i, n in enumerate(self.nodes)}

    @property
    def input_names(self) -> tuple:
        return tuple(n for n, _ in self.inputs) or (INPUT,)

    @property
    def output_names(self) -> tuple:
        return tuple(self.outputs) or ((self.nodes[-1].name,) if self.nodes else ())

    def unread(self) -> list:
        """Names of the nodes no output depends on (computed, but their result is never used)."""
        live, stack = set(), list(self.output_names)
        while stack:
            name = stack.pop()
            if name in live or name not in self.index:  # an input
                continue
            live.add(name)
            stack.extend(self.nodes[self.index[name]].inputs)
        return [n.name for n in self.nodes if n.name not in live]

    def split_parts(self) -> dict:
        """(split name, input) -> the nodes, in order, that are parts of one split: layers with the
        same `split` on the same input (Narrow, Index)."""
        out: dict = {}
        for n in self.nodes:
            label = getattr(n.layer, "split", None)
            if label is not None and n.inputs:
                out.setdefault((label, n.inputs[0]), []).append(n)
        return out

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
        """The (first) output node."""
        return self.node(self.output_names[0])

    def location(self, node: Node) -> str:
        where = self.file
        if node.line is not None:
            where += f":{node.line}:{node.column}"
        return where
