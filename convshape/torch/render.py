"""Render a CheckResult (from check.py) as a table or JSON; no computation here."""
from __future__ import annotations

import json


def render_json(result) -> str:
    return json.dumps(result.to_dict(), indent=2)


def render_table(result, console=None):
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    total = sum(result.compared.values())
    shape = "x".join(str(d) for d in result.input_shape)
    if result.mismatches:
        table = Table(title=f"{result.network} at {shape}: {len(result.mismatches)} mismatch(es) "
                            f"in {total} comparisons", title_justify="left")
        for col in ("layer", "type", "metric", "input", "convshape", "torch", "note"):
            table.add_column(col, overflow="fold")
        for m in result.mismatches:
            table.add_row(m.layer, m.kind, m.metric, "x".join(str(d) for d in m.input),
                          _cell(m.expected), _cell(m.actual), m.note)
        console.print(table)
    else:
        console.print(f"{result.network} at {shape} on {result.device}: all {total} comparisons agree "
                      f"over {result.layers} layers")
    by_metric = ", ".join(f"{k} {v}" for k, v in result.compared.items())
    console.print(f"compared: {by_metric}", soft_wrap=True)
    if result.sizes:
        sizes = "; ".join("x".join(str(d) for d in s) + ("" if ok else " (invalid)") for s, ok in result.sizes)
        console.print(f"sampled inputs: {sizes}", soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True)


def _cell(x) -> str:
    if isinstance(x, tuple):
        return "[" + ", ".join(str(v) for v in x) + "]"
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    return str(x)
