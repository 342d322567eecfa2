"""Which input sizes a network accepts, in closed form, with the layers that cause each rule.

    >>> from convshape.constraints import derive
    >>> derive(load("tests/specs/unet4.yaml")).dim("H").statement
    'H must be a multiple of 16 and at least 16'

See docs/constraints.md for the method (exact integer evaluation, quasi-linear proofs).
Attributes load lazily: `size_hints` is used on the error path of every command and must not
import sympy when nothing fails.
"""
from __future__ import annotations

import contextlib
import importlib

_LAZY = {
    "derive": "derivation", "free_input": "derivation", "parse_ranges": "derivation",
    "size_violations": "derivation",
    "DEFAULT_RANGE": "derivation", "Constraints": "model", "DimRule": "model", "JointRule": "model",
    "Reason": "model", "Violation": "model",
}

__all__ = sorted(_LAZY) + ["size_hints", "hint_lines"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)


@contextlib.contextmanager
def size_hints(network, input_shape=None):
    """Re-raise a ShapeError with `hints`: the size rules the input breaks and the nearest valid sizes.

        with size_hints(network, shape):
            report = analyze(network, shape)
    """
    from ..errors import ShapeError
    try:
        yield
    except ShapeError as e:
        from ..lint.explain import ARGUMENT_FIXES, explain_failure, one_line
        from .derivation import size_violations
        finding = explain_failure(network, input_shape)
        if finding is not None and finding.code != "CS100":
            e.explained = one_line(finding)  # lint's sentence, column and fix (the CLI prints it)
        if finding is not None and finding.code in ARGUMENT_FIXES:
            e.hints = []  # the fix is the argument, not the input size
        elif finding is not None and "It needs a network input with" in finding.message:
            e.hints = []  # CS105 has said which sizes work
        else:
            e.hints = hint_lines(size_violations(network, input_shape))
        raise


def hint_lines(violations) -> list:
    """One hint per distinct rule: H and W broken for the same reason share one line; a violation
    with no nearby valid size tells nothing and is left out."""
    import re
    groups: dict = {}
    for v in violations:
        if v.below is None and v.above is None:
            continue
        text = v.text()
        key = re.sub(rf"\b{re.escape(v.symbol)}\b", "\0", text) if v.symbol else text
        groups.setdefault(key, []).append(v)
    lines = []
    for members in groups.values():
        v = members[0]
        if len(members) == 1:
            lines.append(v.text())
            continue
        heads = ", ".join(f"{m.symbol}={m.value}" for m in members)
        why = "; ".join(r.text for r in v.reasons)
        statement = v.statement.replace(f"{v.symbol} must", f"{' and '.join(m.symbol for m in members)} must each", 1)
        lines.append(f"{heads} are not valid: {v.suggestion()} ({statement}{': ' + why if why else ''})")
    return lines
