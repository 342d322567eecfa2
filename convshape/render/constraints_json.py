"""`convshape constraints --format json`: Constraints.to_dict() as indented JSON."""
from __future__ import annotations

import json


def render(c) -> str:
    return json.dumps(c.to_dict(), indent=2)
