"""Rule documentation from the registry: `convshape rules` (text, json) and docs/rules.md
(`convshape rules --format markdown > docs/rules.md`; a test checks the file is current)."""
from __future__ import annotations

import json

from .registry import FAMILIES, rules


def rule_text(rule) -> str:
    return f"{rule.code} {rule.name} ({rule.severity})\n\n{rule.doc}\n"


def listing_text(selected) -> str:
    width = max((len(r.name) for r in selected), default=0)
    return "".join(f"{r.code}  {r.severity:<7}  {r.name:<{width}}  {r.short}\n" for r in selected)


def to_json(selected, one: bool = False) -> str:
    data = [r.to_dict() for r in selected]
    return json.dumps(data[0] if one else data, indent=2, ensure_ascii=False) + "\n"


def markdown() -> str:
    """docs/rules.md: an index table, then every rule's docstring under its code, by family."""
    all_rules = list(rules().values())
    out = ["# convshape lint rules", "",
           "<!-- Generated from the rule registry by `convshape rules --format markdown > docs/rules.md`;",
           "     tests/test_lint_docs.py fails when this file is out of date. Do not edit by hand. -->", "",
           "Select or ignore rules by code prefix (`--select CS2`, `--ignore CS402`, `[tool.convshape]`), "
           "suppress one layer with `noqa: [CSxxx]` on its entry; see [lint.md](lint.md).", "",
           "| code | name | severity | what it does |", "| --- | --- | --- | --- |"]
    for r in all_rules:
        out.append(f"| [{r.code}](#{r.code.lower()}-{r.name}) | {r.name} | {r.severity} | {r.short} |")
    family = None
    for r in all_rules:
        if r.family != family:
            family = r.family
            digit = next(d for d, f in FAMILIES.items() if f == family)
            out += ["", f"## CS{digit}xx: {family}"]
        body = r.doc.replace("\n## ", "\n#### ")
        body = body[3:] if body.startswith("## ") else body
        out += ["", f"### {r.code} {r.name}", "", f"Severity: **{r.severity}**", "", "#### " + body]
    return "\n".join(out) + "\n"
