"""CSV: one row per layer holding every field of the JSON layer object, flattened.

Nested objects become dotted columns (`receptive_field.size`, `location.line`); lists are
written as compact JSON (`[1, 64, 112, 112]`, `["N", 64, "floor(H/2)"]`), booleans as
true/false and missing values as empty cells, so `json.loads` recovers every list and the
numbers and sympy-parseable strings are those of `--format json`. With --depth, each row is a
collapsed block (or repeat) with its layer count and repeat count after its type.
"""
from __future__ import annotations

import csv
import io
import json

from ..dims import to_json
from .rows import rows_for, with_peer


def flatten(obj: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return str(value)


def columns(records: list[dict]) -> list[str]:
    """Union of the records' keys, each new key placed after the key it follows in its record
    (so `receptive_field.aligned`, present only at merges, sits beside the other RF columns)."""
    keys: list[str] = []
    for rec in records:
        previous = None
        for k in rec:
            if k not in keys:
                keys.insert(keys.index(previous) + 1 if previous is not None else 0, k)
            previous = k
    return keys


def row_dict(row) -> dict:
    """A collapsed --depth row in the JSON layer layout, plus its layer and repeat counts."""
    j = to_json
    return {
        "name": row.name, "type": row.type, "repeat": row.repeat, "layers": len(row.layers),
        "inputs": list(row.inputs), "output_shape": [j(d) for d in row.output_shape],
        "params": j(row.params), "trainable_params": j(row.trainable_params), "buffers": j(row.buffers),
        "macs": j(row.macs), "flops": j(row.flops), "flops_backward": j(row.flops_backward),
        "other_ops": j(row.other_ops), "activation_bytes": j(row.activation_bytes),
        "receptive_field": row.receptive_field.to_dict(),
        "location": {"line": row.line, "column": row.column},
    }


def render(report, depth: int | None = None, convention=None) -> str:
    """`convention` (conventions.count's result) adds a column named by the tool (empty: not counted)."""
    if depth is None:
        records = [flatten(layer) for layer in report.to_dict()["layers"]]
    else:
        records = [flatten(row_dict(row)) for row in rows_for(report, depth)]
    if convention is not None:
        rows = with_peer(rows_for(report, depth), convention.layers)
        for rec, row in zip(records, rows):
            rec[convention.tool] = None if row.peer is None else to_json(row.peer)
    keys = columns(records)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for rec in records:
        writer.writerow([cell(rec.get(k)) for k in keys])
    return buf.getvalue()
