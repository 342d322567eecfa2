"""The rich per-layer table with a totals footer."""
from __future__ import annotations

from ..dims import to_json
from .rows import rows_for


def fmt_int(x) -> str:
    v = to_json(x)
    return f"{v:,}" if isinstance(v, int) else str(v)


def fmt_shape(shape) -> str:
    return "[" + ", ".join(str(to_json(d)) for d in shape) + "]"


def fmt_rf(rf) -> str:
    if rf.is_global:
        return "global"
    if not rf.size:
        return "-"
    return "×".join(str(to_json(s)) for s in rf.size)


def render(report, depth: int | None = None, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{report.network}  input {fmt_shape(report.input_shape)}  ({report.dtype})",
                  show_footer=True, header_style="bold")
    t = report.totals
    table.add_column("layer", footer="total")
    table.add_column("type")
    table.add_column("output shape", footer=f"out {fmt_shape(report.output_shape)}")
    table.add_column("params", justify="right", footer=fmt_int(t.params))
    table.add_column("MACs", justify="right", footer=fmt_int(t.macs))
    table.add_column("RF", justify="right")
    for row in rows_for(report, depth):
        table.add_row(row.name, row.type, fmt_shape(row.output_shape), fmt_int(row.params),
                      fmt_int(row.macs), fmt_rf(row.receptive_field))
    console.print(table)
    console.print(f"params {fmt_int(t.params)} (trainable {fmt_int(t.trainable_params)}, "
                  f"non-trainable {fmt_int(t.non_trainable_params)}), buffers {fmt_int(t.buffers)}; "
                  f"MACs {fmt_int(t.macs)}, FLOPs {fmt_int(t.flops)} (backward {fmt_int(t.flops_backward)}), "
                  f"other ops {fmt_int(t.other_ops)}; activations {fmt_int(t.activation_bytes)} B, "
                  f"params {fmt_int(t.param_bytes)} B", highlight=False)
