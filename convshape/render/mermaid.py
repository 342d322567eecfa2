"""Mermaid flowchart of the network, with the tensor shape on every edge (renders on GitHub).

Every input of every node is an edge, so a residual Add shows both its branch and its
shortcut, and a Concat one edge per input. With --depth, collapsed blocks are single nodes and
the edges are the tensors that cross their borders.
"""
from __future__ import annotations

from . import cells
from .rows import row_of, rows_for


def text(s: str) -> str:
    """Quoted Mermaid label text: quotes become entity codes."""
    return '"' + s.replace('"', "#quot;") + '"'


def render(report, depth: int | None = None) -> str:
    rows = rows_for(report, depth)
    owner = row_of(rows)
    ids = {id(row): f"n{i}" for i, row in enumerate(rows)}
    shape_of = {layer.name: layer.output_shape for layer in report.layers}
    shape_of["input"] = report.input_shape

    # ids never start with o or x, which Mermaid may read as a circle or cross edge end
    out = ["flowchart TD", f"  net_in([{text('input')}])"]
    for row in rows:
        out.append(f"  {ids[id(row)]}[{text(row.name + '<br/>' + cells.kind(row))}]")
    out.append(f"  net_out([{text('output')}])")
    for row in rows:
        seen = set()
        for name in row.inputs:
            source = "net_in" if name == "input" else ids[id(owner[name])]
            edge = (source, cells.shape(shape_of[name]))
            if edge in seen:
                continue
            seen.add(edge)
            out.append(f"  {source} -->|{text(edge[1])}| {ids[id(row)]}")
    last = rows[-1]
    out.append(f"  {ids[id(last)]} -->|{text(cells.shape(report.output_shape))}| net_out")
    return "\n".join(out) + "\n"
