"""Lint findings as SARIF 2.1.0 (GitHub code scanning, IDEs). Rules carry their docstring text;
results point into the spec files (paths relative to the working directory, %SRCROOT%)."""
from __future__ import annotations

import json
from pathlib import Path

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _uri(file: str) -> tuple[str, bool]:
    """(uri, relative?) for a spec: relative posix paths stay relative; zoo:NAME stays as it is."""
    if file.startswith("zoo:"):
        return file, False
    p = Path(file)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(Path.cwd().resolve()).as_posix(), True
        except ValueError:
            return p.resolve().as_uri(), False
    return p.as_posix(), True


def _rule(rule) -> dict:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.short},
        "fullDescription": {"text": f"{rule.summary}\n\n{rule.why}"},
        "help": {"text": rule.doc, "markdown": rule.doc},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {"tags": [rule.family]},
    }


def _location(file: str, line, column, layer=None) -> dict:
    uri, relative = _uri(file)
    physical: dict = {"artifactLocation": {"uri": uri, **({"uriBaseId": "%SRCROOT%"} if relative else {})}}
    if line is not None:
        physical["region"] = {"startLine": line, **({"startColumn": column} if column is not None else {})}
    loc: dict = {"physicalLocation": physical}
    if layer is not None:
        loc["logicalLocations"] = [{"name": layer, "fullyQualifiedName": layer, "kind": "member"}]
    return loc


def to_dict(result, rules: dict) -> dict:
    from .. import __version__
    codes = list(rules)
    results = [{
        "ruleId": f.code, "ruleIndex": codes.index(f.code), "level": LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [_location(f.file, f.line, f.column, f.layer)],
    } for f in result.findings]
    notifications = [{
        "level": "error", "message": {"text": str(fr.error)},
        "locations": [_location(fr.file, getattr(fr.error, "line", None), getattr(fr.error, "column", None))],
    } for fr in result.errors]
    invocation: dict = {"executionSuccessful": not notifications}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "convshape", "version": __version__, "semanticVersion": __version__,
                                "rules": [_rule(r) for r in rules.values()]}},
            "invocations": [invocation],
            "results": results,
        }],
    }


def render(result) -> str:
    from ..lint.registry import rules
    return json.dumps(to_dict(result, rules()), indent=2) + "\n"
