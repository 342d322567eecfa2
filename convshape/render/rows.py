"""Rows of a summary, one per layer or, with --depth, one per collapsed block or repeat.

The levels of the hierarchy are `LayerResult.scopes` (from the spec): a repeated entry such as
`layer1` (Bottleneck, repeat 3) holds its instances `layer1.0`, `layer1.1`, `layer1.2`, which hold
their layers. --depth D keeps D levels open: depth 0 shows top-level entries only (`layer1`
Bottleneck ×3), depth 1 opens them (`layer1.0` Bottleneck), and so on. A collapsed row sums the
additive figures of its layers and takes its output shape and receptive field from the last one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..dims import total


@dataclass
class Row:
    name: str
    type: str                   # layer kind, or the block type of a collapsed row
    inputs: tuple               # names read from outside the row
    output_shape: tuple
    params: object
    trainable_params: object
    buffers: object
    macs: object
    flops: object
    flops_backward: object
    other_ops: object
    activation_bytes: object
    receptive_field: object
    layers: tuple = field(default_factory=tuple)   # names of the layers in this row
    repeat: int | None = None   # instances of a repeated entry collapsed into this row
    line: int | None = None     # where the layer is written; None for a collapsed row
    column: int | None = None
    shares: str | None = None   # a layer row: the layer whose weights it reuses
    frozen: bool = False
    saved_bytes: object = None  # kept for backward in train mode (docs/memory.md)
    peer: object = None         # --convention: the other tool's figure (None: it counts none of these layers)

    @property
    def collapsed(self) -> bool:
        return len(self.layers) != 1 or self.layers[0] != self.name


def layer_row(r) -> Row:
    return Row(r.name, r.type, tuple(r.inputs), r.output_shape, r.params, r.trainable_params, r.buffers,
               r.macs, r.flops, r.flops_backward, r.other_ops, r.activation_bytes, r.receptive_field,
               layers=(r.name,), line=r.line, column=r.column, shares=r.shares, frozen=r.frozen,
               saved_bytes=r.saved_bytes)


def rows_for(report, depth: int | None) -> list[Row]:
    if depth is None:
        return [layer_row(r) for r in report.layers]
    rows: list[Row] = []
    members: list = []
    key = None
    for r in report.layers:
        here = r.scopes[depth] if len(r.scopes) > depth else None
        if members and (here is None or here != key):
            rows.append(_collapse(members, key, depth))
            members = []
        if here is None:
            rows.append(layer_row(r))
        else:
            members.append(r)
            key = here
    if members:
        rows.append(_collapse(members, key, depth))
    return rows


def _collapse(members, scope, depth) -> Row:
    name, block_type, is_repeat = scope
    names = tuple(m.name for m in members)
    inside = set(names)
    inputs: list = []
    for m in members:
        for i in m.inputs:
            if i not in inside and i not in inputs:
                inputs.append(i)
    repeat = None
    if is_repeat:  # instances actually present (`when` may switch some off)
        repeat = len({m.scopes[depth + 1][0] if len(m.scopes) > depth + 1 else m.name for m in members})
    last = members[-1]
    return Row(name, block_type, tuple(inputs), last.output_shape,
               total(m.params for m in members), total(m.trainable_params for m in members),
               total(m.buffers for m in members), total(m.macs for m in members),
               total(m.flops for m in members), total(m.flops_backward for m in members),
               total(m.other_ops for m in members), total(m.activation_bytes for m in members),
               last.receptive_field, layers=names, repeat=repeat,  # no single spec location
               saved_bytes=None if any(m.saved_bytes is None for m in members) else total(m.saved_bytes for m in members))


def row_of(rows: list[Row]) -> dict:
    """Layer name -> the row that shows it (to draw edges between rows)."""
    return {name: row for row in rows for name in row.layers}


def by_type_rows(report) -> list[Row]:
    """One row per layer type (like fvcore's by_operator), in order of first appearance: the sums of
    its layers' figures, and in `type` how many layers there are."""
    groups: dict = {}
    for r in report.layers:
        groups.setdefault(r.type, []).append(r)
    rows = []
    for kind, members in groups.items():
        rows.append(Row(kind, str(len(members)), (), (), total(m.params for m in members),
                        total(m.trainable_params for m in members), total(m.buffers for m in members),
                        total(m.macs for m in members), total(m.flops for m in members),
                        total(m.flops_backward for m in members), total(m.other_ops for m in members),
                        total(m.activation_bytes for m in members), None,
                        layers=tuple(m.name for m in members)))
    return rows


def with_peer(rows: list[Row], peer: dict | None) -> list[Row]:
    """Attach a --convention's per-layer figures (conventions.count(...).layers) to rows: the sum over
    a row's layers, None when the tool counts none of them."""
    if peer is not None:
        for row in rows:
            values = [peer[n] for n in row.layers if peer[n] is not None]
            row.peer = total(values) if values else None
    return rows
