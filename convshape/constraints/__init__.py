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

__all__ = sorted(_LAZY) + ["size_hints"]


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
        from .derivation import size_violations
        e.hints = [v.text() for v in size_violations(network, input_shape)]
        raise
