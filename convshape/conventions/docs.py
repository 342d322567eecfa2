"""docs/conventions.md's generated part: every tool's rules, from the registry (rule docstrings)."""
from __future__ import annotations

import inspect

from .registry import CONVENTIONS


def _line(text: str) -> str:
    return " ".join(inspect.cleandoc(text or "").split()).replace("|", "/")


def reference() -> str:
    """One table per --convention key: the kinds each rule covers and what the tool counts for them."""
    from . import TOOLS
    out = []
    for tool in TOOLS:
        conv = CONVENTIONS[tool]
        out += [f"#### `--convention {tool}`: {conv.figure}", "", _line(conv.measures) + "."
                + (" Batch 1 only." if conv.batch_one else ""), "", "| kinds | figure |", "|---|---|"]
        by_rule: dict = {}
        for kind, fn in conv.rules.items():
            by_rule.setdefault(fn, []).append(kind)
        for fn, kinds in by_rule.items():
            shown = "every other kind" if len(kinds) > 40 else ", ".join(kinds)
            out.append(f"| {shown} | {_line(fn.__doc__)} |")
        by_why: dict = {}
        for kind, why in conv.not_counted.items():
            by_why.setdefault(why, []).append(kind)
        for why, kinds in by_why.items():
            out.append(f"| {', '.join(kinds)} | not counted (`-`): {_line(why)} |")
        out += ["", "Any other kind is refused by name.", ""]
    return "\n".join(out)
