"""Lint findings as GitHub-flavoured Markdown for a pull-request comment or a job summary: a table
per file, and a Mermaid diagram of the region around each flagged layer (flagged layers coloured)."""
from __future__ import annotations

from . import cells
from .lint_text import location, summary
from .markdown import escape, line
from .mermaid import text as label

ICON = {"error": "🛑 error", "warning": "⚠️ warning", "info": "ℹ️ info"}
CONTEXT = 2          # layers shown before and after each flagged one
MAX_NODES = 40       # keep diagrams readable in a comment


def region(network, report, flagged: dict) -> str | None:
    """Mermaid flowchart of the layers within CONTEXT of a flagged one; edges from outside the
    region start at a stub. `flagged`: layer name -> worst severity."""
    index = {n.name: i for i, n in enumerate(network.nodes)}
    keep = set()
    for name in flagged:
        i = index[name]
        keep.update(range(max(0, i - CONTEXT), min(len(network.nodes), i + CONTEXT + 1)))
    if not keep:
        return None
    keep = sorted(keep)[:MAX_NODES]
    shapes = {r.name: r.output_shape for r in report.layers}
    shapes["input"] = report.input_shape
    ids = {network.nodes[i].name: f"n{i}" for i in keep}
    out = ["flowchart TD"]
    outside = set()
    for i in keep:
        node = network.nodes[i]
        shape = cells.shape(shapes[node.name]) if node.name in shapes else "✗"
        out.append(f"  {ids[node.name]}[{label(node.name + '<br/>' + node.kind + '<br/>' + shape)}]")
        for src in node.inputs:
            if src not in ids:
                stub = "input" if src == "input" else f"x{index[src]}"
                if stub not in outside:
                    outside.add(stub)
                    out.append(f"  {stub}([{label(src)}])")
                out.append(f"  {stub} --> {ids[node.name]}")
            else:
                out.append(f"  {ids[src]} --> {ids[node.name]}")
    for name, severity in flagged.items():
        if name in ids:
            out.append(f"  class {ids[name]} {severity}")
    out += ["  classDef error fill:#ffd7d5,stroke:#d1242f", "  classDef warning fill:#fff1c2,stroke:#bf8700",
            "  classDef info fill:#ddf4ff,stroke:#0969da"]
    return "\n".join(out)


def render(result) -> str:
    out = ["## convshape lint", "", summary(result), ""]
    for fr in result.files:
        if fr.error is not None:
            out += [f"### `{fr.file}`", "", f"🛑 could not be linted: {escape(str(fr.error))}", ""]
            continue
        if not fr.findings:
            continue
        out += [f"### `{fr.file}`", "", line(["where", "rule", "severity", "finding"]), line(["---"] * 4)]
        for f in fr.findings:
            out.append(line([escape(location(f)), f"`{f.code}` {f.name}", ICON[f.severity], escape(f.message)]))
        rank = {"info": 0, "warning": 1, "error": 2}
        flagged: dict = {}
        for f in fr.findings:
            if f.layer is not None and rank[f.severity] >= rank.get(flagged.get(f.layer, "info"), 0):
                flagged[f.layer] = f.severity
        diagram = region(fr.network, fr.report, flagged) if fr.network is not None and fr.report is not None else None
        if diagram:
            out += ["", "```mermaid", diagram, "```"]
        out.append("")
    return "\n".join(out) + "\n"
