"""Op patterns of the importer, one small registered function per traced op (registry.py).

A new op is one function in the module of its family, decorated with `@pattern(name, signature=...)`.
"""
from . import activation, arith, attention, layers, merge, pool, reduce, shape  # noqa: F401  (importing registers the patterns)
from .registry import PATTERNS, SIGNATURES, Mapped, bind, canonical, pattern, plain

__all__ = ["PATTERNS", "SIGNATURES", "Mapped", "bind", "canonical", "pattern", "plain"]
