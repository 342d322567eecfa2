"""GitHub-flavoured Markdown: the per-layer table and the totals, for pull requests and docs."""
from __future__ import annotations

from . import cells
from .rows import rows_for, with_peer
from .table import convention_lines, totals_lines

HEADER = ("layer", "type", "output shape", "params", "MACs", "act. bytes", "saved", "RF", "RF stride")
ALIGN = ("---", "---", "---", "--:", "--:", "--:", "--:", "--:", "--:")


def escape(text: str) -> str:
    """Keep a cell one cell: pipes, emphasis marks and tag openers are escaped."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def line(cells_: list[str]) -> str:
    return "| " + " | ".join(cells_) + " |"


def render(report, depth: int | None = None, convention=None) -> str:
    """`convention` (conventions.count's result) adds that tool's figure after MACs."""
    t = report.totals
    peer = [f"{convention.tool} {convention.figure}"] if convention is not None else []
    header, align = list(HEADER), list(ALIGN)
    header[5:5], align[5:5] = peer, ["--:"] * len(peer)
    out = [f"### {escape(report.network)} · input {cells.shape(report.input_shape)} · {report.dtype}", "",
           line(header), line(align)]
    unaligned = False
    for row in with_peer(rows_for(report, depth), convention.layers if peer else None):
        unaligned |= row.receptive_field.aligned is False
        theirs = ["-" if row.peer is None else cells.count(row.peer)] if peer else []
        out.append(line([escape(x) for x in (
            row.name, cells.kind(row), cells.shape(row.output_shape), cells.count(row.params),
            cells.count(row.macs), *theirs, cells.count(row.activation_bytes), cells.count(row.saved_bytes),
            cells.rf_size(row.receptive_field),
            cells.rf_stride(row.receptive_field))]))
    theirs = [escape(cells.count(convention.total))] if peer else []
    out.append(line(["**total**", "", escape(cells.shape(report.output_shape)), escape(cells.count(t.params)),
                     escape(cells.count(t.macs)), *theirs, escape(cells.count(t.activation_bytes)),
                     escape(cells.count(t.saved_bytes)), "", ""]))
    out.append("")
    for label, text in totals_lines(report) + convention_lines(convention):
        out.append(f"- **{label}**: {escape(text)}" if label else f"- {escape(text)}")  # unlabelled: a note of its own
    if unaligned:
        out.append(f"- {escape(cells.UNALIGNED_NOTE)}")
    return "\n".join(out) + "\n"
