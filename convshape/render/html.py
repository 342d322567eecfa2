"""HTML: the per-layer table and the totals, for Jupyter (`Report._repr_html_`)."""
from __future__ import annotations

from html import escape

from . import cells
from .markdown import HEADER
from .rows import rows_for
from .table import totals_lines

NUMERIC = {"params", "MACs", "act. bytes", "RF", "RF stride"}


def render(report, depth: int | None = None) -> str:
    t = report.totals
    head = "".join(f"<th style=\"text-align:{'right' if h in NUMERIC else 'left'}\">{escape(h)}</th>" for h in HEADER)
    rows = []
    for row in rows_for(report, depth):
        values = (row.name, cells.kind(row), cells.shape(row.output_shape), cells.count(row.params),
                  cells.count(row.macs), cells.count(row.activation_bytes), cells.rf_size(row.receptive_field),
                  cells.rf_stride(row.receptive_field))
        rows.append("<tr>" + "".join(_cell(h, v) for h, v in zip(HEADER, values)) + "</tr>")
    total = ("total", "", cells.shape(report.output_shape), cells.count(t.params), cells.count(t.macs),
             cells.count(t.activation_bytes), "", "")
    rows.append("<tr style=\"font-weight:bold\">" + "".join(_cell(h, v) for h, v in zip(HEADER, total)) + "</tr>")
    items = "".join(f"<li><b>{escape(label)}</b>: {escape(text)}</li>" for label, text in totals_lines(report))
    title = f"{report.network} · input {cells.shape(report.input_shape)} · {report.dtype}"
    return (f"<div><p><b>{escape(title)}</b></p><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
            f"</tbody></table><ul>{items}</ul></div>")


def _cell(header: str, value: str) -> str:
    align = "right" if header in NUMERIC else "left"
    return f"<td style=\"text-align:{align}\">{escape(value)}</td>"
