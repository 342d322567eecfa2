"""What a Report shows in a notebook or a script: text, HTML, Markdown, a DataFrame, and the
figures of a symbolic report at concrete sizes; `report.convention(TOOL)` shows the same table with
that tool's column. Every view is a renderer's; nothing is computed."""
from __future__ import annotations


class ReportViews:
    """Mixed into Report (report.py keeps the data model)."""

    def __str__(self) -> str:
        return _plain_table(self)

    def _repr_html_(self) -> str:
        from .render import html
        return html.render(self)

    def _repr_markdown_(self) -> str:
        from .render import markdown
        return markdown.render(self)

    def to_dataframe(self):
        """One row per layer (pandas, imported only here): exact ints, sympy expressions when symbolic."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Report.to_dataframe() needs pandas: pip install pandas") from None
        rows = [{
            "name": r.name, "type": r.type, "output_shape": tuple(r.output_shape), "params": r.params,
            "trainable_params": r.trainable_params, "buffers": r.buffers, "macs": r.macs, "flops": r.flops,
            "flops_backward": r.flops_backward, "other_ops": r.other_ops,
            "activation_elements": r.activation_elements, "activation_bytes": r.activation_bytes,
            "rf_size": tuple(r.receptive_field.size), "rf_stride": tuple(r.receptive_field.stride),
        } for r in self.layers]
        return pd.DataFrame(rows).set_index("name")

    def at(self, **sizes):
        """This report at concrete sizes of its symbols: `report.at(N=1, H=224, W=224)`.

        Works for every Report convshape hands out (analyze, lint, check, verify all keep the network).
        The network is analyzed again at that input, so a size that breaks a rule raises ShapeError
        (sympy's own `.subs({"N": 1})` on a figure does nothing: its symbols carry assumptions).
        """
        network = self.source_network  # every analysis keeps it (analysis.analyze), so every Report can
        if network is None:
            raise ValueError("this Report was built by hand, without its network: analyze the network instead")
        names = [str(d) for d in self.input_shape if not isinstance(d, int)]
        unknown = sorted(set(sizes) - set(names))
        if unknown:
            raise ValueError(f"unknown size {', '.join(unknown)}: this report's symbols are "
                             f"{', '.join(names) or 'none'}")
        for k, v in sizes.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{k}={v!r}: a size must be a positive int")
        from .api import analyze
        shape = tuple(d if isinstance(d, int) else sizes.get(str(d), str(d)) for d in self.input_shape)
        return analyze(network, shape, dtype=self.dtype)

    def convention(self, tool: str):
        """Another tool's figure for each layer and in total: `report.convention("fvcore").total`;
        in a notebook it shows this report's table with the tool's column after MACs.

        tool: torchinfo, fvcore, ptflops (its default pytorch backend), ptflops-aten, thop or torch
        (FlopCounterMode). A layer the tool does not count is None; a kind convshape has no rule for
        raises ConventionError naming it (docs/conventions.md).
        """
        from .conventions import count
        if self.source_network is None:
            raise ValueError("this Report was built by hand, without its network: analyze the network instead")
        return count(self, tool)


class ConventionViews:
    """Mixed into conventions.ConventionCount: the counted report's views with the tool's column after
    MACs, as `summary --convention TOOL` prints them ("-": a layer the tool does not count)."""

    def __str__(self) -> str:
        return _plain_table(self.report, self)

    def _repr_html_(self) -> str:
        from .render import html
        return html.render(self.report, convention=self)

    def _repr_markdown_(self) -> str:
        from .render import markdown
        return markdown.render(self.report, convention=self)


def _plain_table(report, convention=None) -> str:
    """The summary table as plain text, as wide as it needs (no terminal to fit, no colour codes)."""
    import io

    from rich.console import Console

    from .render.table import build, natural_width
    table, grid = build(report, convention=convention)
    out = io.StringIO()
    console = Console(file=out, width=natural_width(table), color_system=None, force_terminal=False)
    console.print(table)
    console.print(grid)
    return out.getvalue()
