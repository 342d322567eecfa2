"""JSON: Report.to_dict() as the stable contract for scripts (+ "convention" with --convention)."""
from __future__ import annotations

import json


def render(report, convention=None) -> str:
    d = report.to_dict()
    if convention is not None:  # conventions.count(...): the other tool's figure per layer and in total
        d["convention"] = convention.to_dict()
    return json.dumps(d, indent=2)
