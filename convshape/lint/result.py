"""What lint produces: findings per file, and the run's result. Renderers read only these."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..dims import to_json
from .registry import severity_rank


@dataclass(frozen=True)
class Finding:
    code: str                       # e.g. CS201 (filled from the rule by the runner)
    message: str
    file: str
    line: int | None = None
    column: int | None = None
    severity: str = "warning"
    name: str = ""                  # the rule's kebab-case name
    layer: str | None = None        # the node the finding is about (None: the whole network)
    kind: str | None = None
    input_shapes: tuple | None = None
    output_shape: tuple | None = None
    argument: str | None = None     # the layer argument the finding points at, when it names one

    def to_dict(self) -> dict:
        return {
            "code": self.code, "name": self.name, "severity": self.severity, "message": self.message,
            "file": self.file, "line": self.line, "column": self.column, "layer": self.layer,
            "kind": self.kind, "argument": self.argument,
            "input_shapes": None if self.input_shapes is None else [[to_json(d) for d in s] for s in self.input_shapes],
            "output_shape": None if self.output_shape is None else [to_json(d) for d in self.output_shape],
        }


@dataclass
class FileResult:
    file: str
    findings: list = field(default_factory=list)
    error: Exception | None = None  # a SpecError: the file could not be linted (exit 2)
    network: object = None          # the Network, when it loaded
    report: object = None           # the (possibly partial) Report


@dataclass
class LintResult:
    files: list = field(default_factory=list)

    @property
    def findings(self) -> list:
        return [f for fr in self.files for f in fr.findings]

    @property
    def errors(self) -> list:
        """Files that could not be linted, with their SpecError."""
        return [fr for fr in self.files if fr.error is not None]

    def counts(self) -> dict:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity] += 1
        return out

    def exit_code(self, fail_on: str = "error") -> int:
        """2: a spec or usage error; 1: a finding at or above fail_on; 0 otherwise."""
        if self.errors:
            return 2
        if fail_on == "never":
            return 0
        bar = severity_rank(fail_on)
        return 1 if any(severity_rank(f.severity) >= bar for f in self.findings) else 0
