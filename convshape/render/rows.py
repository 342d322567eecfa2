"""Collapse layer rows into block rows for --depth (sums where additive, last row otherwise).

--depth D shows layers nested in at most D blocks; each block instance deeper than that is one row.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..dims import total


@dataclass
class Row:
    name: str
    type: str
    output_shape: tuple
    params: object
    macs: object
    other_ops: object
    activation_bytes: object
    receptive_field: object
    count: int = 1


def rows_for(report, depth: int | None):
    if depth is None:
        return [Row(r.name, r.type, r.output_shape, r.params, r.macs, r.other_ops, r.activation_bytes,
                    r.receptive_field) for r in report.layers]
    rows: list[Row] = []
    key_of_last = None
    members: list = []

    def flush():
        if not members:
            return
        last = members[-1]
        name, kind = key_of_last
        rows.append(Row(name, kind, last.output_shape, total(m.params for m in members),
                        total(m.macs for m in members), total(m.other_ops for m in members),
                        total(m.activation_bytes for m in members), last.receptive_field, len(members)))

    for r in report.layers:
        if len(r.groups) > depth:
            key = r.groups[depth]  # (instance name, block type) of the block nested `depth` deep
        else:
            key = (r.name, r.type)
        if key != key_of_last:
            flush()
            members = []
            key_of_last = key
        members.append(r)
    flush()
    return rows
