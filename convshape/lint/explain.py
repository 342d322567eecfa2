"""The one message engine for errors: a failing analysis explained by lint's error rules (CS1xx),
so `summary`, `check` and `run` print the same sentence, column and fix as `convshape lint`."""
from __future__ import annotations

from dataclasses import replace

# rules whose fix is an argument of the layer: input-size hints would mislead there
ARGUMENT_FIXES = ("CS102", "CS106")


def explain_failure(network, input_shape=None):
    """The most specific CS1xx finding for why `network` cannot take `input_shape`, or None.

    Never raises: an explanation must not replace the error it explains.
    """
    try:
        from ..analysis import analyze
        from .context import Context
        from .registry import rules
        report = analyze(network, input_shape, on_error="stop")
        if report.failure is None:
            return None
        ctx = Context(network, report)
        errors = sorted((r for r in rules().values() if r.code.startswith("CS1")),
                        key=lambda r: (r.runs_last, r.code))
        for rule in errors:
            for f in rule.check(ctx):
                ctx.findings.append(replace(f, code=rule.code, name=rule.name, severity=rule.severity))
        return next((f for f in ctx.findings if f.severity == "error"), None)
    except Exception:  # noqa: BLE001
        return None


def one_line(finding) -> str:
    """`file:line:col: CODE message`, as `convshape lint` prints it (without the shapes tail)."""
    from ..render.lint_text import location
    return f"{location(finding)}: {finding.code} {finding.message}"
