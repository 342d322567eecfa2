"""Lint findings as text: `file:line:col: CODE message [layer: Kind input -> output]`, then a summary."""
from __future__ import annotations

from . import cells


def location(f) -> str:
    where = f.file
    if f.line is not None:
        where += f":{f.line}" + (f":{f.column}" if f.column is not None else "")
    return where


def shapes(f) -> str:
    """` [conv1: Conv2d [1, 3, 7, 7] -> [1, 8, 2, 2]]`, or '' for a finding about the whole network."""
    if f.layer is None:
        return ""
    ins = ", ".join(cells.shape(s) for s in f.input_shapes or ())
    out = cells.shape(f.output_shape) if f.output_shape is not None else "✗"
    return f" [{f.layer}: {f.kind} {ins} -> {out}]"


def summary(result) -> str:
    counts = result.counts()
    files = len(result.files)
    parts = [f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items() if n]
    failed = len(result.errors)
    text = (", ".join(parts) if parts else "no findings") + f" in {files} file{'s' if files != 1 else ''}"
    if failed:
        text += f"; {failed} could not be linted"
    return text + "."


def render(result) -> str:
    lines = [f"{location(f)}: {f.code} {f.message}{shapes(f)}" for f in result.findings]
    lines.append(summary(result))
    return "\n".join(lines) + "\n"
