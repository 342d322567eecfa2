"""The rich per-layer table with a totals footer (`convshape summary`, the default format)."""
from __future__ import annotations

import os

from . import cells
from .rows import rows_for

# Columns a narrow terminal drops first, in this order (the totals below still give their sums).
OPTIONAL = ("saved", "RF stride", "act. bytes")


def build(report, depth: int | None = None, hide: tuple = ()):
    """The table and the totals grid below it, as rich renderables; `hide` names OPTIONAL columns."""
    from rich.table import Table

    t = report.totals
    inputs = ", ".join(f"{n} {cells.shape(s)}" for n, s in report.inputs.items()) if report.inputs else None
    table = Table(title=f"{report.network} · {'inputs ' + inputs if inputs else 'input ' + cells.shape(report.input_shape)}"
                        f" · {report.dtype}",
                  show_footer=True, header_style="bold", footer_style="bold")
    # names and symbolic cells fold when the terminal is narrow; concrete numbers never break
    table.add_column("layer", footer="total", overflow="fold")
    table.add_column("type", overflow="fold")
    several = len(report.outputs) > 1
    table.add_column("output shape", footer=f"{len(report.outputs)} outputs" if several else
                     cells.shape(report.output_shape), overflow="fold")
    concrete = not report.symbols
    if not concrete:  # symbolic saved bytes are long: the peak line and --format json/csv/markdown give them
        hide = tuple(hide) + ("saved",)
    for header, footer in (("params", cells.count(t.params)), ("MACs", cells.count(t.macs)),
                           ("act. bytes", cells.count(t.activation_bytes)), ("saved", cells.count(t.saved_bytes))):
        if header not in hide:
            table.add_column(header, justify="right", footer=footer, no_wrap=concrete, overflow="fold")
    table.add_column("RF", justify="right", overflow="fold")
    if "RF stride" not in hide:
        table.add_column("RF stride", justify="right", overflow="fold")
    unaligned = False
    for row in rows_for(report, depth):
        unaligned |= row.receptive_field.aligned is False
        cols = [row.name, cells.kind(row), cells.shape(row.output_shape), cells.count(row.params),
                cells.count(row.macs)]
        cols += [] if "act. bytes" in hide else [cells.count(row.activation_bytes)]
        cols += [] if "saved" in hide else [cells.count(row.saved_bytes)]
        cols += [cells.rf_size(row.receptive_field)]
        cols += [] if "RF stride" in hide else [cells.rf_stride(row.receptive_field)]
        table.add_row(*cols)

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, text in totals_lines(report):
        grid.add_row(label, text)
    if unaligned:
        grid.add_row("", cells.UNALIGNED_NOTE)
    return table, grid


def totals_lines(report) -> list[tuple[str, str]]:
    """(label, text) lines under the table; markdown prints the same figures."""
    t = report.totals
    c = cells.count
    lines = [
        ("params", f"{c(t.params)} (trainable {c(t.trainable_params)}, non-trainable "
                   f"{c(t.non_trainable_params)}); buffers {c(t.buffers)}"),
        ("compute", f"MACs {c(t.macs)}; FLOPs {c(t.flops)} forward, {c(t.flops_backward)} backward; "
                    f"other ops {c(t.other_ops)}"),
        ("memory", f"activations {c(t.activation_bytes)} B ({c(t.activation_elements)} elements); "
                   f"parameters {c(t.param_bytes)} B ({report.dtype})"),
    ]
    if t.inference_peak_bytes is not None:
        peak = (c(t.inference_peak_bytes) if type(t.inference_peak_bytes) is int
                else "the largest live sum, a Max over the schedule (--format json)")
        unknown = f"; not modelled: {', '.join(t.saved_unknown)}" if t.saved_unknown else ""
        lines.append(("peak", f"inference {peak} B; saved for backward (train) {c(t.saved_bytes)} B{unknown} "
                              f"(`convshape memory`)"))
    lines += notes_lines(report)
    for cond in report.conditions:
        where = f" ({cond.layer})" if getattr(cond, "layer", None) else ""
        lines.append(("requires", f"{cells.readable(str(cond.expr))}{where}: {cond.message}"))
    return lines


def notes_lines(report) -> list[tuple[str, str]]:
    """Several outputs, results nothing reads, parameters of modules that never run."""
    c = cells.count
    lines = []
    if len(report.outputs) > 1:
        lines.append(("outputs", "; ".join(f"{n} {cells.shape(s)}" for n, s in report.output_shapes.items())))
    if report.unread:
        shown = ", ".join(report.unread[:8]) + (f" (+{len(report.unread) - 8} more)" if len(report.unread) > 8 else "")
        lines.append(("unread", f"{len(report.unread)} layer(s) computed and counted, result read by no output: "
                                f"{shown}"))
    if report.totals.memory_not_modelled:
        lines.append(("peak", f"memory not modelled for this network ({report.totals.memory_not_modelled})"))
    if report.unused_params:
        n = sum(u["params"] for u in report.unused_params)
        shown = ", ".join(f"{u['module']} ({c(u['params'])})" for u in report.unused_params[:8])
        more = f" (+{len(report.unused_params) - 8} more)" if len(report.unused_params) > 8 else ""
        lines.append(("unused", f"{c(n)} params in modules forward never calls (in the totals): {shown}{more}"))
    return lines


def render(report, depth: int | None = None, console=None) -> None:
    """Print the table. On a terminal it fits the window; piped, it keeps its natural width."""
    from rich.console import Console

    table, grid = build(report, depth)
    hidden: tuple = ()
    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=natural_width(table))
        else:  # a terminal narrower than the table: drop optional columns before wrapping cells
            for column in OPTIONAL:
                if natural_width(table, least=0) <= console.width:
                    break
                hidden += (column,)
                table, grid = build(report, depth, hide=hidden)
    console.print(table)
    console.print(grid)
    if hidden:
        console.print(f"({' and '.join(hidden)} hidden to fit {console.width} columns; "
                      f"a wider terminal or --format markdown shows them)", style="dim", highlight=False)


def natural_width(table, least: int = 80) -> int:
    """The width at which no cell wraps (for output that goes to a file or a pipe)."""
    import io

    from rich.console import Console

    probe = Console(width=100_000, file=io.StringIO())
    return max(least, probe.measure(table).maximum)
