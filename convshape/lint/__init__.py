"""`convshape lint`: rules over a network spec, with codes, docs, budgets and CI output formats.

    findings = convshape.lint("model.yaml", max_params=5_000_000)

The package is callable (the call is `lint` below), so `convshape.lint(...)` is the public API
while `convshape.lint.registry`, `convshape.lint.rules`, ... stay ordinary submodules. The
registry is convshape.lint.registry; the rules live in convshape.lint.rules (one module per
family, listed in rules/__init__.py MODULES).
"""
from __future__ import annotations

import sys
import types


def lint(spec, **options):
    """Lint one spec (path, `zoo:NAME` or Network); see convshape.lint.runner.lint for the options."""
    from .runner import lint as _lint
    return _lint(spec, **options)


class _CallableModule(types.ModuleType):
    def __call__(self, spec, **options):
        return lint(spec, **options)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["lint"]
