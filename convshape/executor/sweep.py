"""Confirm shape predictions across many input sizes in one call: `convshape run SPEC --sweep H=64:512:32`.

For every point of the grid, convshape's concrete analysis (the prediction, or its ShapeError) is
compared with torch's modules run on the meta device (shapes only, no data). The work is batched:
modules are built once per distinct constructor call, and torch's answer for a (module, input
shapes) pair is remembered, so repeated blocks and sizes that collide after a stride are asked once.

Why not one symbolic analysis substituted at each point: it was measured slower. Concrete analysis
costs 5 ms for ResNet-50, while the symbolic analysis of GoogLeNet plus compiling its 150
conditions and 900 dims to exact integer code took 16 s; the meta-device run is the cost that
matters, and that is what the memo cuts.
"""
from __future__ import annotations

import itertools
import re
import time

from ..analysis import analyze
from ..errors import ShapeError, SpecError
from ..graph import INPUT, Network
from ..memory.schedule import produced, read_values
from .result import SweepPoint, SweepReport

# names of input dims by rank, after the spec's own symbol names
AXES_BY_RANK = {
    3: {"N": 0, "L": 2},
    4: {"N": 0, "H": 2, "W": 3},
    5: {"N": 0, "D": 2, "T": 2, "H": 3, "W": 4},
}
_RANGE = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(\d+)\s*:\s*(\d+)(?:\s*:\s*(\d+))?\s*$")
_LIST = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(\d+(?:\s*,\s*\d+)*)\s*$")
MAX_POINTS = 100_000


def parse_sweep(text: str) -> tuple[str, list[int]]:
    """`H=64:512:32` (start:stop:step, stop included when the steps reach it; step defaults to 1)
    or `H=64,96,128` -> ("H", [64, 96, ...])."""
    m = _RANGE.match(text)
    if m:
        name, start, stop, step = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4) or 1)
        if step < 1 or start < 1 or stop < start:
            raise SpecError(f"--sweep {text!r}: need 1 <= start <= stop and step >= 1")
        return name, list(range(start, stop + 1, step))
    m = _LIST.match(text)
    if m:
        values = [int(v) for v in m.group(2).split(",")]
        if min(values) < 1:
            raise SpecError(f"--sweep {text!r}: sizes must be >= 1")
        return m.group(1), values
    raise SpecError(f"--sweep {text!r}: expected NAME=START:STOP[:STEP] or NAME=A,B,C, e.g. H=64:512:32")


def axis_position(name: str, shape: tuple, declared: tuple) -> int:
    """Which input dim a sweep name refers to: a symbol the spec's input uses, else by rank
    (N, L | N, H, W | N, D or T, H, W). Channels are not swept: the modules are built once."""
    for i, d in enumerate(declared):
        if d == name:
            return i
    table = AXES_BY_RANK.get(len(shape), {"N": 0})
    if name not in table:
        raise SpecError(f"--sweep {name}: no such dim for a {len(shape)}-D input "
                        f"(use {', '.join(table)} or a symbol of the spec's input)")
    return table[name]


class MetaShapes:
    """Output shapes of every node from torch's modules on the meta device.

    Like a model built once and fed many sizes, each node's module is built at the first point
    that reaches it (sizes inferred from the input, such as in_channels, are fixed then). torch's
    answer is remembered per (constructor call, input shapes), so repeated blocks ask once.
    """

    def __init__(self, network: Network):
        import torch
        self.torch = torch
        self.network = network
        self.keys: dict = {}        # node name -> constructor key
        self.modules: dict = {}     # constructor key -> module on the meta device
        self.answers: dict = {}     # (constructor key, input shapes) -> output shape

    def _key(self, node, shapes):
        if node.name not in self.keys:
            key = (node.kind, repr(sorted(node.layer.torch_kwargs(shapes).items())))
            if key not in self.modules:
                with self.torch.device("meta"):
                    self.modules[key] = node.layer.to_torch(shapes).eval()
            self.keys[node.name] = key
        return self.keys[node.name]

    def run(self, input_shape) -> tuple[dict, str | None, str | None]:
        """({value: shape}, failing node, message); the failing node is None when torch ran it all.
        The values are the nodes' outputs and the indices a pool yields beside its output."""
        import warnings
        torch = self.torch
        shapes = {INPUT: tuple(input_shape)}
        for node in self.network.nodes:
            ins = [shapes[name] for name in read_values(node)]
            try:
                key = self._key(node, ins)
                answer = (key, tuple(ins))
                if answer not in self.answers:
                    index_inputs = node.layer.index_inputs   # an unpool reads int64 indices
                    xs = [torch.empty(s, device="meta", dtype=torch.int64 if j in index_inputs else None)
                          for j, s in enumerate(ins)]
                    with warnings.catch_warnings(), torch.no_grad():
                        warnings.simplefilter("ignore")
                        out = self.modules[key](*xs)
                    outs = out if node.layer.has_indices() else (out,)   # a pool's (values, indices)
                    self.answers[answer] = [tuple(o.shape) for o in outs]
                shapes.update(zip(produced(node), self.answers[answer]))
            except Exception as e:  # torch's refusal is the observation
                text = str(e).strip().splitlines()
                return shapes, node.name, f"{type(e).__name__}: {text[0][:200] if text else ''}"
        return shapes, None, None


def sweep(network: Network, axes: dict, input_shape=None, progress=None) -> SweepReport:
    """Compare predicted and torch shapes at every point of the grid `axes` ({name: [sizes]})."""
    start = time.perf_counter()
    base = tuple(input_shape) if input_shape is not None else tuple(network.input_shape)
    positions = {name: axis_position(name, base, tuple(network.input_shape)) for name in axes}
    fixed = [d for i, d in enumerate(base) if i not in positions.values()]
    if any(not isinstance(d, int) for d in fixed):
        raise SpecError(f"--sweep: input {list(base)} has symbolic dims that are not swept; "
                        "give them sizes with --input")
    count = 1
    for values in axes.values():
        count *= len(values)
    if count > MAX_POINTS:
        raise SpecError(f"--sweep: {count} points is more than {MAX_POINTS}")
    observer = MetaShapes(network)
    if all(isinstance(d, int) for d in network.input_shape) and len(network.input_shape) == len(base):
        observer.run(network.input_shape)    # build the modules at the spec's own input, as to_torch does
    progress = progress or (lambda phase, done, total: None)
    points = []
    for k, values in enumerate(itertools.product(*axes.values())):
        shape = list(base)
        for name, v in zip(axes, values):
            shape[positions[name]] = v
        points.append(_point(network, tuple(shape), observer))
        progress("sweep", k + 1, count)
    return SweepReport(network=network.name, axes={k: list(v) for k, v in axes.items()}, points=points,
                       seconds=time.perf_counter() - start, method="concrete analysis per point")


def _point(network: Network, shape: tuple, observer: MetaShapes) -> SweepPoint:
    try:
        report = analyze(network, shape)
        predicted, bad_layer, why = {r.name: tuple(r.output_shape) for r in report.layers}, None, None
    except ShapeError as e:
        predicted, bad_layer, why = None, e.layer, e.message
    observed, failed, message = observer.run(shape)
    final = network.nodes[-1].name
    if predicted is not None and failed is None:
        for node in network.nodes:
            if predicted[node.name] != observed[node.name]:
                return SweepPoint(shape, predicted[final], observed[final], False, node.name,
                                  f"predicted {list(predicted[node.name])}, torch {list(observed[node.name])}")
        return SweepPoint(shape, predicted[final], observed[final], True)
    if predicted is None and failed is not None:
        same = bad_layer == failed
        return SweepPoint(shape, None, None, same, None if same else failed,
                          None if same else f"convshape rejects at {bad_layer}, torch fails at {failed}")
    if predicted is None:
        return SweepPoint(shape, None, observed[final], False, bad_layer, f"convshape rejects ({why}); torch runs")
    return SweepPoint(shape, predicted[final], None, False, failed, f"torch fails ({message}); convshape accepts")
