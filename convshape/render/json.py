"""JSON: Report.to_dict() as the stable contract for scripts."""
from __future__ import annotations

import json


def render(report) -> str:
    return json.dumps(report.to_dict(), indent=2)
