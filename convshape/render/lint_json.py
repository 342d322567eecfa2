"""Lint findings as JSON: {"findings": [...], "errors": [...], "summary": {...}} for scripts."""
from __future__ import annotations

import json


def to_dict(result) -> dict:
    return {
        "findings": [f.to_dict() for f in result.findings],
        "errors": [{"file": fr.file, "message": str(fr.error), "line": getattr(fr.error, "line", None),
                    "column": getattr(fr.error, "column", None)} for fr in result.errors],
        "summary": {"files": len(result.files), **result.counts()},
    }


def render(result) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"
