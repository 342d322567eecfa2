"""Render `convshape memory`: the peak and its parts, and the solved limit (renders only)."""
from __future__ import annotations

import json


def human(n) -> str:
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def _inputs(fig) -> dict:
    """Several named inputs: name -> shape ({} for one)."""
    return dict(fig.report.inputs) if fig.report is not None else {}


def _figure_dict(fig) -> dict:
    several = {"inputs": [{"name": n, "shape": list(s)} for n, s in _inputs(fig).items()]} if _inputs(fig) else {}
    return {"input": list(fig.input_shape), **several, "peak_bytes": fig.peak_bytes, "phase": fig.phase, "layer": fig.layer,
            "parts": fig.parts, "dominant_layers": [{"name": n, "bytes": b} for n, b in fig.dominant],
            ("temporaries_unknown" if fig.phase == "inference" else "saved_bytes_unknown"): list(fig.unknown),
            "copies_unknown": list(fig.copies_unknown)}


def to_dict(network: str, settings: dict, fig, limit=None, budget=None) -> dict:
    d = {"network": network, **settings, "figure": _figure_dict(fig)}
    if budget is not None:
        d["budget_bytes"] = budget
    if limit is not None:
        d["limit"] = {"what": limit.what, "largest": limit.value,
                      "fits": _figure_dict(limit.fits) if limit.fits else None,
                      "next": _figure_dict(limit.over) if limit.over else None}
    return d


def render_json(network, settings, fig, limit=None, budget=None) -> str:
    return json.dumps(to_dict(network, settings, fig, limit, budget), indent=2)


def render_text(network, settings, fig, limit=None, budget=None) -> str:
    mode = (f"training step, {settings['optimizer']}" + (", float32 master weights" if settings.get("master") else "")
            if settings["train"] else "inference (eval, no grad)")
    shown = ", ".join(f"{n} {list(s)}" for n, s in _inputs(fig).items()) or str(list(fig.input_shape))
    lines = [f"{network}  input{'s' if _inputs(fig) else ''} {shown}  {settings['dtype']}  {mode}",
             f"peak {human(fig.peak_bytes)} ({fig.peak_bytes:,} B) in the {fig.phase}"
             + (f", at {fig.layer}" if fig.layer else "")]
    for name, b in fig.parts.items():
        if b:
            lines.append(f"  {name:<30} {human(b):>12}")
    what = "saved for backward" if settings["train"] else "output"
    lines.append("dominant layers (" + what + "): " + ", ".join(f"{n} {human(b)}" for n, b in fig.dominant))
    if fig.unknown:
        # training: saved tensors, a backward's copies (an in-place layer on a view of unknown kind) or
        # train-mode temporaries whose bound reaches the peak (memory/unmodelled.py)
        what = "temporaries" if fig.phase == "inference" else \
            "saved tensors, backward copies or train-mode temporaries"
        lines.append(f"note: {what} of {', '.join(fig.unknown)} are not modelled and not counted")
    if fig.copies_unknown:
        lines.append(f"note: copies torch may make of {', '.join(fig.copies_unknown)} (an op no layer stands for, "
                     "or a reshape whose layout is not known) are not counted: the peak may be low")
    if limit is not None:
        if limit.value == 0:
            need = f" (the smallest needs {human(limit.over.peak_bytes)})" if limit.over else ""
            lines.append(f"budget {human(budget)}: no {limit.what} fits{need}")
        else:
            nxt = (f"; {list(limit.over.input_shape)} needs {human(limit.over.peak_bytes)}"
                   if limit.over else "")
            lines.append(f"budget {human(budget)}: largest {limit.what} {limit.value}: "
                         f"{list(limit.fits.input_shape)} needs {human(limit.fits.peak_bytes)}{nxt}")
    return "\n".join(lines) + "\n"
