"""The rule modules. A new rule is one decorated function in one of these modules; a new module
is one more name in MODULES. Importing this package registers them all (see registry.rules())."""
from __future__ import annotations

import importlib

MODULES = ("errors", "design", "receptive_field", "efficiency", "constraints", "budgets", "graph")

for _name in MODULES:
    importlib.import_module(f"{__name__}.{_name}")
