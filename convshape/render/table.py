"""The rich per-layer table with a totals footer (`convshape summary`, the default format).

Columns are chosen by key (`--columns`); to fit a terminal the table first abbreviates numbers
(4.09 G, 143 MiB) and then drops columns in DROP_ORDER, and says what it did. Names and concrete
shapes never break across lines: when even the narrowest table is too wide, lines run long.
"""
from __future__ import annotations

import os

from . import cells
from .rows import by_type_rows, rows_for, with_peer

# key -> (header, right-aligned); the order here is the order on screen
COLUMNS = {
    "type": ("type", False), "output": ("output shape", False), "params": ("params", True),
    "params%": ("params %", True), "macs": ("MACs", True), "macs%": ("MACs %", True),
    "flops": ("FLOPs", True), "bytes": ("act. bytes", True), "saved": ("saved", True), "rf": ("RF", True),
    "rf-stride": ("RF stride", True), "peer": ("", True),  # peer: --convention's column, titled by its tool
}
DEFAULT_COLUMNS = ("type", "output", "params", "macs", "bytes", "saved", "rf", "rf-stride")
BY_TYPE_COLUMNS = ("type", "params", "params%", "macs", "macs%", "bytes")  # --by type: no shapes or RFs
# Columns a narrow terminal drops first, in this order (the totals below still give their sums).
DROP_ORDER = ("saved", "rf-stride", "bytes", "params%", "macs%", "flops", "rf", "output")
OPTIONAL = tuple(COLUMNS[k][0] for k in DROP_ORDER[:3])  # "saved", "RF stride", "act. bytes"


def parse_columns(text: str | None, by: str | None = None) -> tuple:
    """`params,macs,flops` -> keys in screen order; unknown keys are a SpecError naming the choices."""
    if not text:
        return BY_TYPE_COLUMNS if by == "type" else DEFAULT_COLUMNS
    from ..errors import SpecError
    keys = [k.strip().lower() for k in text.split(",") if k.strip()]
    choices = [k for k in COLUMNS if k != "peer"]  # peer comes with --convention
    unknown = [k for k in keys if k not in choices]
    if unknown:
        raise SpecError(f"--columns: unknown column {unknown[0]!r}; choose from {', '.join(choices)}")
    return tuple(k for k in COLUMNS if k in keys)


def _cell(key, row, t, human: bool) -> str:
    count = (lambda x: cells.human(x)) if human else cells.count
    if key == "type":
        return cells.kind(row)
    if key == "output":
        return cells.shape(row.output_shape)
    if key == "params":
        return count(row.params)
    if key == "params%":
        return cells.percent(row.params, t.params)
    if key == "macs":
        return count(row.macs)
    if key == "macs%":
        return cells.percent(row.macs, t.macs)
    if key == "flops":
        return count(row.flops)
    if key == "bytes":
        return cells.human(row.activation_bytes, binary=True) if human else cells.count(row.activation_bytes)
    if key == "saved":
        return cells.human(row.saved_bytes, binary=True) if human else cells.count(row.saved_bytes)
    if key == "rf":
        return cells.rf_size(row.receptive_field)
    if key == "peer":
        return "-" if row.peer is None else count(row.peer)
    return cells.rf_stride(row.receptive_field)


def _footer(key, report, human: bool, convention=None) -> str:
    t = report.totals
    if key == "peer":
        return (cells.human(convention.total) if human else cells.count(convention.total)) if convention else ""
    count = (lambda x: cells.human(x)) if human else cells.count
    several = len(report.outputs) > 1
    output = f"{len(report.outputs)} outputs" if several else cells.shape(report.output_shape) if report.layers else ""
    saved = (cells.human(t.saved_bytes, binary=True) if human else cells.count(t.saved_bytes)) \
        if t.saved_bytes is not None else ""
    return {"output": output, "saved": saved, "params": count(t.params),
            "macs": count(t.macs), "flops": count(t.flops),
            "bytes": cells.human(t.activation_bytes, binary=True) if human else cells.count(t.activation_bytes),
            "params%": "100.0%" if t.params else "", "macs%": "100.0%" if t.macs else ""}.get(key, "")


def build(report, depth: int | None = None, hide: tuple = (), columns: tuple = DEFAULT_COLUMNS,
          human: bool = False, by: str | None = None, convention=None):
    """The table and the totals grid below it, as rich renderables; `hide` names columns (keys or
    headers) to leave out; `human` abbreviates counts and bytes; `by="type"` sums per layer type;
    `convention` (conventions.count's result) adds that tool's figure after MACs, titled by the tool."""
    from rich.table import Table

    t = report.totals
    if report.symbols or by == "type":  # symbolic saved bytes are long: the peak line and json/csv/markdown give them
        hide = tuple(hide) + ("saved",)
    if convention is not None and "peer" not in columns:
        macs = [i for i, k in enumerate(columns) if k in ("macs", "macs%")]
        at = macs[-1] + 1 if macs else len(columns)
        columns = tuple(columns[:at]) + ("peer",) + tuple(columns[at:])
    shown = [k for k in columns if k not in hide and COLUMNS[k][0] not in hide]
    inputs = ", ".join(f"{n} {cells.shape(s)}" for n, s in report.inputs.items()) if report.inputs else None
    title = f"{report.network} · {'inputs ' + inputs if inputs else 'input ' + cells.shape(report.input_shape)}" \
            f" · {report.dtype}"
    table = Table(title=title + (" · by layer type" if by == "type" else ""),
                  show_footer=True, header_style="bold", footer_style="bold")
    concrete = not report.symbols
    # names, types and concrete figures never break; symbolic expressions fold
    table.add_column("type" if by == "type" else "layer", footer="total", no_wrap=True)
    for key in shown:
        header, right = COLUMNS[key]
        if by == "type" and key == "type":
            header = "layers"
        if key == "peer":
            header = f"{convention.tool} {convention.figure}"
        wrap_ok = not concrete and key not in ("type",)
        table.add_column(header, justify="right" if right else "left", footer=_footer(key, report, human, convention),
                         no_wrap=not wrap_ok, overflow="fold")
    unaligned = False
    rows = with_peer(by_type_rows(report) if by == "type" else rows_for(report, depth),
                     convention.layers if convention is not None else None)
    for row in rows:
        if by != "type":
            unaligned |= row.receptive_field.aligned is False
        table.add_row(row.name, *[_cell(k, row, t, human) for k in shown])

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, text in totals_lines(report) + convention_lines(convention):
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
        if t.inference_peak_unknown:
            unknown += f"; peak without copies torch may make of {', '.join(t.inference_peak_unknown)}"
        lines.append(("peak", f"inference {peak} B; saved for backward (train) {c(t.saved_bytes)} B{unknown} "
                              f"(`convshape memory`)"))
    lines += notes_lines(report)
    for cond in report.conditions:
        where = f" ({cond.layer})" if getattr(cond, "layer", None) else ""
        lines.append(("requires", f"{cells.readable(str(cond.expr))}{where}: {cond.message}"))
    return lines


def convention_lines(convention) -> list[tuple[str, str]]:
    """What --convention's column holds, and the kinds that tool does not count ("-" in the column)."""
    if convention is None:
        return []
    c = convention
    lines = [(c.tool, f"{c.figure} {cells.count(c.total)} ({c.measures}); the other columns are convshape's")]
    reasons: dict = {}
    for kind, why in c.not_counted.items():
        reasons.setdefault(why, []).append(kind)
    for why, kinds in reasons.items():
        lines.append(("", f"not counted by {c.tool} (-): {', '.join(kinds)}: {why}"))
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
    if report.unused_params:
        n = sum(u["params"] for u in report.unused_params)
        shown = ", ".join(f"{u['module']} ({c(u['params'])})" for u in report.unused_params[:8])
        more = f" (+{len(report.unused_params) - 8} more)" if len(report.unused_params) > 8 else ""
        lines.append(("unused", f"{c(n)} params in modules forward never calls (in the totals): {shown}{more}"))
    return lines


def render(report, depth: int | None = None, console=None, columns: tuple = DEFAULT_COLUMNS,
           units: str = "auto", width: int | None = None, by: str | None = None, file=None,
           convention=None) -> None:
    """Print the table. `width` (--width), else a terminal's width or $COLUMNS: the table fits it
    (numbers abbreviated first when units="auto", then columns dropped, and a note says so);
    piped with neither, it keeps its natural width. units: "auto", "human" or "exact"."""
    from rich.console import Console

    human = units == "human"
    if console is not None:  # the caller chose the console (tests, notebooks): no fitting
        table, grid = build(report, depth, columns=columns, human=human, by=by, convention=convention)
        console.print(table)
        console.print(grid)
        return
    plain = dict(color_system=None, force_terminal=False) if file is not None else {}
    probe = Console(file=file) if file is not None else Console()
    fit = width or (int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None)
    if fit is None and (file is not None or not probe.is_terminal):
        table, grid = build(report, depth, columns=columns, human=human, by=by, convention=convention)
        Console(file=file, width=natural_width(table), **plain).print(table, grid)
        return
    fit = fit or probe.width
    table, grid, hidden, abbreviated = fitted(report, depth, columns, units, by, fit, convention)
    # too wide still: symbolic cells fold; what cannot fold (names, numbers) makes long lines
    need = least_width(table) if report.symbols else natural_width(table, least=0)
    console = Console(file=file, width=max(fit, need), **plain)
    console.print(table)
    console.print(grid)
    done = (["numbers abbreviated (k/M/G = 10³/10⁶/10⁹, KiB/MiB = 2¹⁰/2²⁰ B; exact totals below)"] if abbreviated
            else []) + ([f"{', '.join(COLUMNS[k][0] for k in hidden)} hidden"] if hidden else [])
    if done:
        console.print(f"({' and '.join(done)} to fit {fit} columns: --units exact, --columns, --width)",
                      style="dim", highlight=False)


def fitted(report, depth, columns, units, by, width: int, convention=None):
    """(table, grid, hidden keys, abbreviated) for the widest variant within `width` columns:
    exact numbers, then abbreviated ones (units "auto"), then columns dropped in DROP_ORDER."""
    human = units == "human"
    hidden: tuple = ()
    # concrete tables fit when nothing wraps; symbolic cells may fold, so those fit at their least width
    size = least_width if report.symbols else (lambda t: natural_width(t, least=0))
    table, grid = build(report, depth, columns=columns, human=human, by=by, convention=convention)
    if size(table) <= width:
        return table, grid, hidden, False
    abbreviated = False
    if units == "auto":
        human = abbreviated = True
        table, grid = build(report, depth, columns=columns, human=True, by=by, convention=convention)
    for key in DROP_ORDER:
        if size(table) <= width:
            break
        if key in columns:
            hidden += (key,)
            table, grid = build(report, depth, hide=hidden, columns=columns, human=human, by=by,
                                convention=convention)
    return table, grid, hidden, abbreviated


def natural_width(table, least: int = 80) -> int:
    """The width at which no cell wraps (for output that goes to a file or a pipe)."""
    import io

    from rich.console import Console

    probe = Console(width=100_000, file=io.StringIO())
    return max(least, probe.measure(table).maximum)


def least_width(table) -> int:
    """The narrowest the table can be without breaking a name or a number (symbolic cells fold)."""
    import io

    from rich.console import Console

    return Console(width=100_000, file=io.StringIO()).measure(table).minimum
