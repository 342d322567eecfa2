"""Lint configuration: the spec's `lint:` section, `[tool.convshape]` in pyproject.toml, and the
command line, validated by pydantic models (unknown keys are errors with their file and line).

Precedence: command line > spec > pyproject.toml for budgets and for `select` (the nearest
`select` replaces the others); `ignore` lists add up. Per code, the most specific (longest)
matching selector wins; at equal length `ignore` wins.
"""
from __future__ import annotations

import fnmatch
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ..errors import SpecError
from .context import Budgets
from .registry import lookup

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKMGT]i?B?|B)?\s*$")
_UNITS = {"": 1, "B": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse_size(value) -> int:
    """1000000, '1_000_000', '25M', '4.1G', '512MiB', '2KB' -> a positive int (k/M/G/T are powers of
    1000, Ki/Mi/Gi/Ti powers of 1024; a trailing B is allowed)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {value!r}")
    if isinstance(value, int):
        n = value
    else:
        text = str(value).replace("_", "").replace(",", "")
        m = _SIZE.match(text)
        if not m:
            raise ValueError(f"expected a size such as 1000000, 25M, 4G or 512MiB, got {value!r}")
        unit = (m.group(2) or "").removesuffix("B")
        n = Decimal(m.group(1)) * _UNITS[unit]
        if n != n.to_integral_value():
            raise ValueError(f"{value!r} is not a whole number")
        n = int(n)
    if n < 1:
        raise ValueError(f"a budget must be positive, got {value!r}")
    return n


def _selector(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a rule selector is a string such as CS2 or CS201, got {value!r}")
    sel = value.strip().upper()
    if not re.match(r"^(ALL|CS\d{0,3})$", sel):
        raise ValueError(f"'{value}' is not a rule selector (ALL, CS, CS2, CS20 or CS201)")
    if not lookup(sel):
        raise ValueError(f"'{value}' matches no rule (see `convshape rules`)")
    return sel


def _selectors(value):
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of rule codes, got {value!r}")
    return [_selector(v) for v in value]


Size = Annotated[int, BeforeValidator(parse_size)]
Selectors = Annotated[list[str], BeforeValidator(_selectors)]


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class SpecLint(BaseModel):
    """The spec's `lint:` section."""

    model_config = ConfigDict(extra="forbid", alias_generator=_kebab, populate_by_name=True, frozen=True)

    select: Selectors | None = None
    ignore: Selectors = Field(default_factory=list)
    max_params: Size | None = None
    max_macs: Size | None = None
    max_activation_bytes: Size | None = None
    min_receptive_field: Size | None = None
    max_train_memory: Size | None = None


class ProjectLint(SpecLint):
    """`[tool.convshape]` in pyproject.toml: the spec's keys plus per-file ignores."""

    per_file_ignores: dict[str, Selectors] = Field(default_factory=dict)


BUDGETS = ("max_params", "max_macs", "max_activation_bytes", "min_receptive_field", "max_train_memory")


def _validate(model, data, where, file: str, prefix: tuple) -> BaseModel:
    """Validate `data`; the first problem becomes a SpecError at its key (`where(path)` -> line, col)."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        key = next((p for p in loc if isinstance(p, str)), None)
        if err["type"] == "extra_forbidden":
            from ..spec.network import suggest
            known = [f.alias or n for n, f in model.model_fields.items()]
            msg = f"unknown lint setting '{key}'{suggest(str(key), known)}"
        else:
            msg = f"lint setting '{key}': {err['msg'].replace('Value error, ', '')}"
        line, col = where(loc)
        from ..spec.source import format_path
        raise SpecError(msg, file=file, line=line, column=col, field=format_path(prefix + loc)) from None


def spec_settings(network) -> tuple[SpecLint, dict]:
    """The spec's lint: section, and where each key is written ((line, column) by kebab name)."""
    raw = network.lint_config or {}
    smap = network.source

    def where(loc):
        if smap is None:
            return (None, None)
        return smap.where(("lint",) + tuple(loc))

    settings = _validate(SpecLint, raw, where, network.file, ("lint",))
    positions = {_kebab(str(k)): where((k,)) for k in raw}
    return settings, positions


# ---- pyproject.toml
def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml with a [tool.convshape] table, from `start` (default: cwd) upwards."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        p = d / "pyproject.toml"
        if p.is_file() and re.search(r"^\s*\[\s*tool\s*\.\s*convshape\s*[\].]", p.read_text("utf-8", "replace"), re.M):
            return p
    return None


def _toml_where(text: str):
    """(line, column) of keys inside [tool.convshape] and its sub-tables (tomllib keeps no positions)."""
    lines = text.splitlines()
    table, found = None, {}
    for n, line in enumerate(lines, 1):
        h = re.match(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$", line)
        if h:
            parts = tuple(p.strip().strip("\"'") for p in h.group(1).split("."))
            table = parts[2:] if parts[:2] == ("tool", "convshape") else None
            if table is not None:
                found[table] = (n, 1)
            continue
        k = re.match(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)\s*=", line)
        if k and table is not None:
            found[table + (k.group(1).strip("\"'"),)] = (n, k.start(1) + 1)

    def where(loc):
        loc = tuple(str(p) for p in loc)
        while loc:
            if loc in found:
                return found[loc]
            loc = loc[:-1]
        return found.get((), (None, None))

    return where


def project_settings(path: Path) -> tuple[ProjectLint, Path]:
    """[tool.convshape] of a pyproject.toml (an empty configuration when the table is absent)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    text = Path(path).read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"invalid TOML: {e}", file=str(path)) from None
    raw = data.get("tool", {}).get("convshape", {})
    return (_validate(ProjectLint, raw, _toml_where(text), str(path), ("tool", "convshape")),
            Path(path).resolve().parent)


# ---- the command line
class Options(BaseModel):
    """Lint options from the command line or the `convshape.lint` API (validated like the spec's)."""

    model_config = ConfigDict(frozen=True)

    select: Selectors | None = None
    ignore: Selectors = Field(default_factory=list)
    max_params: Size | None = None
    max_macs: Size | None = None
    max_activation_bytes: Size | None = None
    min_receptive_field: Size | None = None
    max_train_memory: Size | None = None

    @classmethod
    def from_cli(cls, select=(), ignore=(), **budgets) -> "Options":
        """Comma-separated, repeatable selectors and size strings, as typed; a bad value is a SpecError
        naming its flag (exit 2)."""
        values = {"select": [v for s in select for v in s.split(",") if v.strip()] or None,
                  "ignore": [v for s in ignore for v in s.split(",") if v.strip()],
                  **{k: v for k, v in budgets.items() if v is not None}}
        try:
            return cls(**values)
        except ValidationError as e:
            err = e.errors()[0]
            flag = "--" + _kebab(str(err["loc"][0]))
            raise SpecError(f"{flag}: {err['msg'].replace('Value error, ', '')}") from None


class Selection:
    """Which codes are enabled: the most specific matching selector wins; ties go to ignore."""

    def __init__(self, select, ignore):
        self.select = list(select) if select else ["ALL"]
        self.ignore = list(ignore)

    def enabled(self, code: str) -> bool:
        best_len, best_on = -1, False
        for sel, on in [(s, True) for s in self.select] + [(s, False) for s in self.ignore]:
            length = 0 if sel == "ALL" else len(sel)
            if (sel == "ALL" or code.startswith(sel)) and (length > best_len or (length == best_len and not on)):
                best_len, best_on = length, on
        return best_on


def matches_any(code: str, selectors) -> bool:
    return any(s == "ALL" or code.startswith(s.upper()) for s in selectors)


def per_file_ignores(project: ProjectLint | None, root: Path | None, file: str) -> list:
    """Selectors ignored for `file` by per-file-ignores patterns (matched on the path relative to the
    pyproject.toml's folder, the path as given, and the file name)."""
    if project is None or not project.per_file_ignores:
        return []
    names = {file, Path(file).name}
    if root is not None and not file.startswith("zoo:"):
        try:
            names.add(Path(file).resolve().relative_to(root).as_posix())
        except ValueError:
            pass
    out = []
    for pattern, sels in project.per_file_ignores.items():
        if any(fnmatch.fnmatchcase(n, pattern) for n in names):
            out += sels
    return out


def resolve(options: Options, spec: SpecLint, spec_where: dict, project: ProjectLint | None,
            root: Path | None, file: str) -> tuple[Selection, Budgets]:
    """Combine the three sources for one file."""
    sources = [options, spec] + ([project] if project is not None else [])
    select = next((s.select for s in sources if s.select), None)
    ignore = [c for s in sources for c in s.ignore] + per_file_ignores(project, root, file)
    values = {}
    for name in BUDGETS:
        values[name] = next((getattr(s, name) for s in sources if getattr(s, name) is not None), None)
    where = {_kebab(n): spec_where[_kebab(n)] for n in BUDGETS
             if _kebab(n) in spec_where and getattr(options, n) is None and getattr(spec, n) is not None}
    return Selection(select, ignore), Budgets(**values, where=where)
