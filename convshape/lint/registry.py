"""The lint rule registry (the ruff model).

A rule is one function registered with `@rule(code, name, severity)`. Its docstring has four
fixed sections, `## What it does`, `## Why is this bad?`, `## Example` and `## Use instead`;
the same text feeds docs/rules.md, `convshape rules`, SARIF `fullDescription` and the rule
tests (which lint the Example and the Use instead snippets). Registering a code or a name
twice raises, so the registry is the one source of truth.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Callable

SEVERITIES = ("info", "warning", "error")          # in rising order
SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead")
# The digit after "CS" names the family: the hundreds of the code.
FAMILIES = {
    "0": "meta", "1": "errors", "2": "design", "3": "receptive field",
    "4": "efficiency", "5": "constraints", "6": "budgets",
}

_CODE = re.compile(r"^CS\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_YAML_BLOCK = re.compile(r"```ya?ml\n(.*?)```", re.S)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    check: Callable                      # check(ctx) -> iterable of Finding (see context.Context.at)
    doc: str                             # the cleaned docstring (markdown)
    sections: dict = field(default_factory=dict)
    runs_last: bool = False              # sees the other rules' findings (the catch-all error rule)

    @property
    def family(self) -> str:
        return FAMILIES.get(self.code[2], "other")

    @property
    def summary(self) -> str:
        return self.sections.get("What it does", "")

    @property
    def why(self) -> str:
        return self.sections.get("Why is this bad?", "")

    @property
    def example(self) -> str:
        return self.sections.get("Example", "")

    @property
    def fix(self) -> str:
        return self.sections.get("Use instead", "")

    @property
    def short(self) -> str:
        """The first sentence of What it does: one line for listings and SARIF shortDescription."""
        text = " ".join(self.summary.split())
        m = re.match(r"(.+?\.)(\s|$)", text)
        return m.group(1) if m else text

    def snippet(self, section: str) -> str | None:
        """The first ```yaml block of a section: a complete spec, linted by the rule tests."""
        m = _YAML_BLOCK.search(self.sections.get(section, ""))
        return m.group(1) if m else None

    def missing_sections(self) -> list[str]:
        return [s for s in SECTIONS if not self.sections.get(s, "").strip()]

    def to_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "severity": self.severity, "summary": self.summary,
                "why": self.why, "example": self.example, "fix": self.fix}


RULES: dict[str, Rule] = {}


def parse_sections(doc: str) -> dict:
    """Split a markdown docstring on its `## Heading` lines."""
    sections: dict = {}
    current = None
    lines: list = []
    for line in doc.splitlines():
        m = re.match(r"^##\s+(.+?)\s*$", line)
        if m:
            if current is not None:
                sections[current] = "\n".join(lines).strip()
            current, lines = m.group(1), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).strip()
    return sections


def rule(code: str, name: str, severity: str, *, runs_last: bool = False):
    """Register a lint rule: `@rule("CS201", "stride-does-not-tile", "warning")` on `def check(ctx)`."""
    if not _CODE.match(code):
        raise ValueError(f"rule code {code!r} must be CS followed by three digits")
    if not _NAME.match(name):
        raise ValueError(f"rule name {name!r} must be kebab-case")
    if severity not in SEVERITIES:
        raise ValueError(f"rule {code}: severity must be one of {SEVERITIES}, got {severity!r}")

    def register(func):
        if code in RULES:
            raise ValueError(f"rule {code} is registered twice")
        if any(r.name == name for r in RULES.values()):
            raise ValueError(f"rule name {name!r} is registered twice")
        doc = inspect.cleandoc(func.__doc__ or "")
        RULES[code] = Rule(code, name, severity, func, doc, parse_sections(doc), runs_last)
        return func

    return register


def rules() -> dict[str, Rule]:
    """All registered rules, by code (importing the rule modules on first use)."""
    from . import rules as _modules  # noqa: F401  (registers every rule module listed there)
    return dict(sorted(RULES.items()))


def lookup(selector: str) -> list[Rule]:
    """Rules whose code starts with `selector` (a code, a prefix such as CS2, or ALL)."""
    sel = selector.strip().upper()
    return [r for c, r in rules().items() if sel == "ALL" or c.startswith(sel)]


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)
