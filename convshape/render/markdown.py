"""GitHub-flavoured Markdown: the per-layer table and the totals, for pull requests and docs."""
from __future__ import annotations

from . import cells
from .rows import rows_for
from .table import totals_lines

HEADER = ("layer", "type", "output shape", "params", "MACs", "act. bytes", "saved", "RF", "RF stride")
ALIGN = ("---", "---", "---", "--:", "--:", "--:", "--:", "--:", "--:")


def escape(text: str) -> str:
    """Keep a cell one cell: pipes, emphasis marks and tag openers are escaped."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def line(cells_: list[str]) -> str:
    return "| " + " | ".join(cells_) + " |"


def render(report, depth: int | None = None) -> str:
    t = report.totals
    out = [f"### {escape(report.network)} · input {cells.shape(report.input_shape)} · {report.dtype}", "",
           line(list(HEADER)), line(list(ALIGN))]
    unaligned = False
    for row in rows_for(report, depth):
        unaligned |= row.receptive_field.aligned is False
        out.append(line([escape(x) for x in (
            row.name, cells.kind(row), cells.shape(row.output_shape), cells.count(row.params),
            cells.count(row.macs), cells.count(row.activation_bytes), cells.count(row.saved_bytes),
            cells.rf_size(row.receptive_field),
            cells.rf_stride(row.receptive_field))]))
    out.append(line(["**total**", "", escape(cells.shape(report.output_shape)), escape(cells.count(t.params)),
                     escape(cells.count(t.macs)), escape(cells.count(t.activation_bytes)),
                     escape(cells.count(t.saved_bytes)), "", ""]))
    out.append("")
    for label, text in totals_lines(report):
        out.append(f"- **{label}**: {escape(text)}")
    if unaligned:
        out.append(f"- {escape(cells.UNALIGNED_NOTE)}")
    return "\n".join(out) + "\n"
