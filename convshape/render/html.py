"""HTML: the per-layer table and the totals, for Jupyter (`Report._repr_html_`, and
`report.convention(TOOL)`'s, which adds that tool's column after MACs as --format markdown does)."""
from __future__ import annotations

from html import escape

from . import cells
from .markdown import HEADER
from .rows import rows_for, with_peer
from .table import convention_lines, totals_lines

LEFT = {"layer", "type", "output shape"}


def render(report, depth: int | None = None, convention=None) -> str:
    """`convention` (conventions.count's result) adds that tool's figure after MACs ("-": not counted)."""
    t = report.totals
    peer = [f"{convention.tool} {convention.figure}"] if convention is not None else []
    header = list(HEADER)
    header[5:5] = peer
    head = "".join(f"<th style=\"text-align:{_align(h)}\">{escape(h)}</th>" for h in header)
    rows = []
    unaligned = False
    for row in with_peer(rows_for(report, depth), convention.layers if peer else None):
        unaligned |= row.receptive_field.aligned is False
        theirs = ["-" if row.peer is None else cells.count(row.peer)] if peer else []
        values = (row.name, cells.kind(row), cells.shape(row.output_shape), cells.count(row.params),
                  cells.count(row.macs), *theirs, cells.count(row.activation_bytes), cells.count(row.saved_bytes),
                  cells.rf_size(row.receptive_field), cells.rf_stride(row.receptive_field))
        rows.append(_row(header, values))
    theirs = [cells.count(convention.total)] if peer else []
    total = ("total", "", cells.shape(report.output_shape), cells.count(t.params), cells.count(t.macs), *theirs,
             cells.count(t.activation_bytes), cells.count(t.saved_bytes), "", "")
    rows.append(_row(header, total, " style=\"font-weight:bold\""))
    lines = totals_lines(report) + convention_lines(convention)
    items = "".join(f"<li><b>{escape(label)}</b>: {escape(text)}</li>" if label else f"<li>{escape(text)}</li>"
                    for label, text in lines)
    if unaligned:
        items += f"<li>{escape(cells.UNALIGNED_NOTE)}</li>"
    title = f"{report.network} · input {cells.shape(report.input_shape)} · {report.dtype}"
    body = "\n".join(rows)  # a row per line: a diff of two renderings reads by layer
    return (f"<div><p><b>{escape(title)}</b></p><table><thead><tr>{head}</tr></thead><tbody>\n{body}\n"
            f"</tbody></table><ul>{items}</ul></div>")


def _align(header: str) -> str:
    return "left" if header in LEFT else "right"


def _row(header: list, values: tuple, attrs: str = "") -> str:
    # strict: a missing cell would shift every column after it under the wrong header
    return f"<tr{attrs}>" + "".join(f"<td style=\"text-align:{_align(h)}\">{escape(v)}</td>"
                                    for h, v in zip(header, values, strict=True)) + "</tr>"
