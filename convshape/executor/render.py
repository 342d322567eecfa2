"""Renderers for RunReport and SweepReport (they format; the runner computed everything)."""
from __future__ import annotations

import json


def render_json(report) -> str:
    return json.dumps(report.to_dict(), indent=2)


def _f(x, spec: str, dash: str = "-") -> str:
    return dash if x is None else format(x, spec)


def _bytes(n) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _shape(s) -> str:
    return "-" if s is None else "[" + ", ".join(str(d) for d in s) + "]"


def render_table(report, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = report.totals
    table = Table(title=f"{report.network}  input {_shape(report.input_shape)}  {report.dtype} on "
                        f"{report.device} ({report.device_name})", show_footer=True, header_style="bold")
    ok = f"{t.confirmed}/{t.layers}"
    table.add_column("layer", footer="total")
    table.add_column("type")
    table.add_column("output shape")
    table.add_column("ok", justify="center", footer=ok)
    table.add_column("max rel err", justify="right")
    table.add_column("ms", justify="right", footer=_f(t.time_ms, ".3f"))
    table.add_column("TFLOP/s", justify="right", footer=_f(t.tflops, ".3f"))
    table.add_column("roofline", justify="right", footer=_f(t.roofline_efficiency, ".1%"))
    for r in report.layers:
        mark = "[green]✓[/green]" if r.confirmed else "[red]✗[/red]"
        table.add_row(r.name, r.type, _shape(r.output_shape if r.output_shape is not None else r.predicted_shape),
                      mark, _f(r.max_rel_error, ".1e"), _f(r.time_ms, ".3f"), _f(r.tflops, ".3f"),
                      _f(r.roofline_efficiency, ".1%"))
    console.print(table)
    cal = report.calibration
    console.print(f"peak {_f(cal.get('peak_tflops'), '.3g')} TFLOP/s ({report.dtype} matmul), copy "
                  f"{_f(cal.get('bandwidth_gbs'), '.4g')} GB/s, calibrated {cal.get('measured_at', '?')}; "
                  f"tolerance {report.tolerance:g}, seed {report.seed}", highlight=False)
    overhead = _f(t.overhead, "+.1%")
    console.print(f"forward pass {_f(t.pass_ms, '.3f')} ms instrumented, {_f(t.plain_pass_ms, '.3f')} ms plain "
                  f"({overhead}); peak memory {_bytes(t.peak_memory_bytes)} ({t.memory_method}) vs predicted "
                  f"{_bytes(t.predicted_peak_bytes)} live, {_bytes(t.activation_plus_param_bytes)} with every "
                  f"activation kept", highlight=False)
    for line in report.warnings:
        console.print(f"[yellow]warning[/yellow] {line}", highlight=False)
    for r in report.layers:
        if not r.confirmed:
            console.print(f"[red]unconfirmed[/red] {r.name} ({r.type}): {r.error}", highlight=False)


def render_sweep_table(report, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    axes = ", ".join(f"{k}={v[0]}..{v[-1]} ({len(v)})" for k, v in report.axes.items())
    table = Table(title=f"{report.network}  sweep {axes}", header_style="bold")
    for name in ("input", "predicted output", "torch output", "ok", "first difference"):
        table.add_column(name)
    for p in report.points:
        mark = "[green]✓[/green]" if p.confirmed else "[red]✗[/red]"
        where = "" if p.confirmed else f"{p.layer or ''}: {p.detail or ''}"
        table.add_row(_shape(p.input_shape), _shape(p.predicted) if p.predicted else "invalid",
                      _shape(p.observed) if p.observed else "error", mark, where)
    console.print(table)
    confirmed = sum(p.confirmed for p in report.points)
    console.print(f"{confirmed}/{len(report.points)} input sizes confirmed in {report.seconds:.2f} s "
                  f"(prediction: {report.method}; torch: modules on the meta device)", highlight=False)


def render_calibration(cal, path, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{cal.device_name}  (torch {cal.torch_version}, measured {cal.measured_at})",
                  header_style="bold")
    table.add_column("dtype")
    table.add_column("matmul TFLOP/s", justify="right")
    table.add_column("at n", justify="right")
    for dtype, rate in cal.matmul_flops.items():
        table.add_row(dtype, f"{rate / 1e12:.4g}", str(cal.matmul_sizes.get(dtype, "-")))
    console.print(table)
    console.print(f"copy bandwidth {cal.copy_bytes_per_s / 1e9:.4g} GB/s (read + write, {_bytes(cal.copy_bytes)} "
                  f"buffer); cached in {path}", highlight=False)


class ProgressDisplay:
    """A rich progress bar on stderr for long runs, shown only when stderr is a terminal; it is
    the `progress(phase, done, total)` callback the runner and sweep call."""

    def __init__(self, label: str):
        import sys
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.bar = None
        self.tasks: dict = {}

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, phase: str, done: int, total: int):
        if self.bar is None:
            return
        if phase not in self.tasks:
            self.tasks[phase] = self.bar.add_task(f"{self.label}: {phase}", total=total)
        self.bar.update(self.tasks[phase], completed=done)
