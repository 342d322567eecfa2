"""`convshape.verify(module, spec)`: one assertion for users' own tests.

The module is imported (from_torch) at the input shape and compared with the spec layer by layer:
output shape, parameters (trainable too: frozen layers) and MACs, then the outputs (every returned
tensor, by shape) and the totals (params counted once for shared weights, backward FLOPs). Layers are paired by aligning the two sequences
of layer types (and names, where both sides use a name). Any difference raises AssertionError with a per-layer diff.
"""
from __future__ import annotations

import difflib

from ..analysis import analyze
from ..graph import Network

FIELDS = ("output_shape", "params", "trainable_params", "macs")


def _fmt(v):
    if isinstance(v, tuple):
        return "[" + ", ".join(str(x) for x in v) + "]"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _pairs(expected: list, actual: list):
    """(expected row or None, actual row or None) in order.

    The two layer sequences are aligned on (type, name where both sides use it), and runs of equal
    length that differ only in names are paired by position: names of parameter-free layers are
    arbitrary (a ReLU module called three times), names of weighted layers usually agree.
    """
    shared = {r.name for r in expected} & {r.name for r in actual}

    def keys(rows):
        return [(r.type, r.name if r.name in shared else None) for r in rows]

    sm = difflib.SequenceMatcher(a=keys(expected), b=keys(actual), autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            yield from zip(expected[i1:i2], actual[j1:j2])
        else:
            for r in expected[i1:i2]:
                yield r, None
            for r in actual[j1:j2]:
                yield None, r


def diff(module, spec: Network | str, input_shape=None) -> list[str]:
    """The differences between a module and a spec, one line each (empty when they agree)."""
    from .importer import from_torch
    if isinstance(spec, str):
        from ..spec import load
        spec = load(spec)
    shape = tuple(input_shape) if input_shape is not None else tuple(spec.input_shape)
    if not all(type(d) is int for d in shape):
        raise ValueError(f"verify needs a concrete input shape, got {list(shape)}: pass input_shape=")
    want = analyze(spec, shape)
    # several named inputs: the module gets them by the spec's names (the first at `shape`)
    given = {n: shape if j == 0 else tuple(s) for j, (n, s) in enumerate(spec.inputs)} if spec.inputs else shape
    got = analyze(from_torch(module, given), shape)
    lines = []
    for e, a in _pairs(want.layers, got.layers):
        if a is None:
            lines.append(f"layer '{e.name}' ({e.type}): in the spec, missing from the module")
            continue
        if e is None:
            lines.append(f"layer '{a.name}' ({a.type}): in the module, not in the spec "
                         f"(output {_fmt(tuple(a.output_shape))}, params {_fmt(a.params)})")
            continue
        parts = []
        if e.type != a.type:
            parts.append(f"type expected {e.type}, got {a.type}")
        for f in FIELDS:
            if f == "trainable_params" and e.params != a.params:
                continue  # implied by the params difference
            ve, va = getattr(e, f), getattr(a, f)
            if f == "output_shape":
                ve, va = tuple(ve), tuple(va)
            if ve != va:
                parts.append(f"{f} expected {_fmt(ve)}, got {_fmt(va)}")
        if parts:
            label = e.name if e.name == a.name else f"{e.name}' / module '{a.name}"
            lines.append(f"layer '{label}' ({e.type}): " + "; ".join(parts))
    shapes_e = [tuple(s) for s in want.output_shapes.values()]
    shapes_a = [tuple(s) for s in got.output_shapes.values()]
    if shapes_e != shapes_a:
        lines.append(f"outputs: expected {len(shapes_e)} ({', '.join(_fmt(s) for s in shapes_e)}), got "
                     f"{len(shapes_a)} ({', '.join(_fmt(s) for s in shapes_a)})")
    for f in ("params", "trainable_params", "buffers", "macs", "flops_backward"):
        ve, va = getattr(want.totals, f), getattr(got.totals, f)
        if ve != va and not (f == "trainable_params" and want.totals.params != got.totals.params):
            lines.append(f"total {f}: expected {_fmt(ve)}, got {_fmt(va)}")
    return lines


def verify(module, spec: Network | str, input_shape=None) -> None:
    """Assert that `module` matches `spec` (a Network, a path or `zoo:NAME`) at `input_shape`."""
    lines = diff(module, spec, input_shape)
    if lines:
        name = spec if isinstance(spec, str) else spec.name
        shown = lines[:40] + ([f"... and {len(lines) - 40} more"] if len(lines) > 40 else [])
        raise AssertionError(f"{type(module).__name__} does not match spec {name}:\n  " + "\n  ".join(shown))


__all__ = ["verify", "diff"]
