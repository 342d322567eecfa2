"""Read a spec document (YAML, JSON or TOML) into plain data plus a map of source positions.

Safety: YAML is read event by event first (no recursion, no object construction), rejecting
non-standard tags, deep nesting and oversized input; alias expansion is counted while the
plain data is built, so "billion laughs" documents fail fast. Nothing in a spec is executed.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from ..errors import SpecError

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 2_000_000  # after alias expansion

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STD_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map", "tag:yaml.org,2002:merge",
}
_constructor = yaml.constructor.SafeConstructor()


class SourceMap:
    """Positions (1-based line, column) of fields, keyed by their path inside the document."""

    def __init__(self, file: str, positions: dict | None = None, text: str | None = None, fmt: str = "yaml"):
        self.file = file
        self.positions = positions or {}
        self.text = text
        self.fmt = fmt

    def where(self, path) -> tuple[int | None, int | None]:
        path = tuple(path)
        while True:
            pos = self.positions.get(path)
            if pos is not None:
                return pos
            if not path:
                return (None, None)
            path = path[:-1]

    def error(self, message: str, path=(), field: str | None = None) -> SpecError:
        line, col = self.where(path)
        return SpecError(message, file=self.file, line=line, column=col,
                         field=field if field is not None else format_path(path))


def format_path(path) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def detect_format(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".toml":
        return "toml"
    return "yaml"


def read_file(path: str) -> tuple[str, str]:
    """Return (text, display name); bad files become one-line SpecErrors."""
    p = Path(path)
    if not p.exists():
        raise SpecError("file not found", file=path)
    if p.is_dir():
        raise SpecError("is a directory, not a spec file", file=path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise SpecError(f"spec is {size} bytes, over the {MAX_BYTES}-byte limit", file=path)
        raw = p.read_bytes()
    except OSError as e:
        raise SpecError(f"cannot read file: {e.strerror}", file=path) from None
    return decode(raw, path), path


def decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:8192]:
        raise SpecError("binary data, not a text spec (found a NUL byte)", file=name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SpecError(f"not UTF-8 text (invalid byte 0x{raw[e.start]:02x})", file=name, line=line) from None
    return text


def parse_text(text: str, name: str, fmt: str | None = None):
    """Parse a document to (data, SourceMap)."""
    if len(text) > MAX_BYTES:
        raise SpecError(f"spec is over the {MAX_BYTES}-byte limit", file=name)
    fmt = fmt or detect_format(name, text)
    if not text.strip():
        raise SpecError("empty spec", file=name, line=1, column=1)
    if fmt == "toml":
        return _parse_toml(text, name)
    if fmt == "json":
        return _parse_json(text, name)
    return _parse_yaml(text, name)


def _mark(mark) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def _yaml_error(e: yaml.YAMLError, name: str) -> SpecError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    msg = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is not None:
        return SpecError(msg, file=name, line=mark.line + 1, column=mark.column + 1)
    return SpecError(msg, file=name)


def _prescan(text: str, name: str) -> None:
    """Walk the event stream: bound the depth and refuse non-standard tags before composing."""
    depth = 0
    docs = 0
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    line, col = _mark(ev.start_mark)
                    raise SpecError(f"document nested deeper than {MAX_DEPTH} levels", file=name, line=line, column=col)
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(ev, yaml.DocumentStartEvent):
                docs += 1
                if docs > 1:
                    line, col = _mark(ev.start_mark)
                    raise SpecError("several YAML documents in one file; a spec is one document", file=name, line=line, column=col)
            tag = getattr(ev, "tag", None)
            if tag is not None and tag not in _STD_TAGS and tag != "!":
                line, col = _mark(ev.start_mark)
                shown = tag.replace("tag:yaml.org,2002:", "!!")
                raise SpecError(f"YAML tag {shown} is not allowed: a spec is plain data", file=name, line=line, column=col)
    except yaml.YAMLError as e:
        raise _yaml_error(e, name) from None


def _parse_yaml(text: str, name: str):
    _prescan(text, name)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise _yaml_error(e, name) from None
    if root is None:
        raise SpecError("empty spec", file=name, line=1, column=1)
    positions: dict = {}
    budget = [MAX_NODES]
    data = _to_data(root, (), positions, budget, name)
    return data, SourceMap(name, positions, text, "yaml")


def _to_data(node, path, positions, budget, name):
    budget[0] -= 1
    if budget[0] < 0:
        line, col = _mark(node.start_mark)
        raise SpecError(f"document expands to more than {MAX_NODES} values (YAML aliases?)", file=name, line=line, column=col)
    positions.setdefault(path, _mark(node.start_mark))
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "!":  # a quoted-with-tag-'!' scalar is just a string
            return node.value
        try:
            return _constructor.yaml_constructors[node.tag](_constructor, node)
        except (yaml.YAMLError, ValueError, KeyError) as e:
            line, col = _mark(node.start_mark)
            raise SpecError(f"bad scalar {node.value!r}: {e}", file=name, line=line, column=col) from None
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(child, path + (i,), positions, budget, name) for i, child in enumerate(node.value)]
    out: dict = {}
    merged: dict = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    line, col = _mark(src.start_mark)
                    raise SpecError("a YAML merge key (<<) must refer to a mapping", file=name, line=line, column=col)
                sub = _to_data(src, path, positions, budget, name)
                for k, v in sub.items():
                    merged.setdefault(k, v)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            line, col = _mark(key_node.start_mark)
            raise SpecError("mapping keys must be plain scalars", file=name, line=line, column=col)
        key = _to_data(key_node, path + ("<key>",), positions, budget, name)
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            line, col = _mark(key_node.start_mark)
            raise SpecError(f"mapping key {key_node.value!r} must be a name", file=name, line=line, column=col)
        key = str(key) if not isinstance(key, str) else key
        if key in out:
            line, col = _mark(key_node.start_mark)
            raise SpecError(f"duplicate key '{key}' (the earlier value would be lost)", file=name, line=line,
                            column=col, field=format_path(path + (key,)))
        positions[path + (key,)] = _mark(key_node.start_mark)
        out[key] = _to_data(value_node, path + (key,), positions, budget, name)
    positions.pop(path + ("<key>",), None)
    for k, v in merged.items():
        out.setdefault(k, v)
    return out


def _parse_json(text: str, name: str):
    def no_dupes(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise SpecError(f"duplicate key '{k}' (the earlier value would be lost)", file=name)
            seen[k] = v
        return seen

    try:
        data = json.loads(text, object_pairs_hook=no_dupes)
    except json.JSONDecodeError as e:
        raise SpecError(f"invalid JSON: {e.msg}", file=name, line=e.lineno, column=e.colno) from None
    except RecursionError:
        raise SpecError(f"document nested deeper than {MAX_DEPTH} levels", file=name) from None
    # JSON is (nearly) a subset of YAML: reuse the YAML reader for positions and bounds.
    try:
        ydata, smap = _parse_yaml(text, name)
    except SpecError as e:
        if "nested deeper" in e.message or "expands" in e.message:
            raise
        return data, SourceMap(name, {}, text, "json")
    smap.fmt = "json"
    return (ydata if ydata == data else data), smap


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def _parse_toml(text: str, name: str):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_POS.search(msg)
        line = int(m.group(1)) if m else None
        col = int(m.group(2)) if m else None
        raise SpecError(f"invalid TOML: {_TOML_POS.sub('', msg).strip()}", file=name, line=line, column=col) from None
    _check_depth(data, name)
    return data, SourceMap(name, _toml_positions(text, data), text, "toml")


def _check_depth(data, name, depth=0):
    if depth > MAX_DEPTH:
        raise SpecError(f"document nested deeper than {MAX_DEPTH} levels", file=name)
    if isinstance(data, dict):
        for v in data.values():
            _check_depth(v, name, depth + 1)
    elif isinstance(data, list):
        for v in data:
            _check_depth(v, name, depth + 1)


def _toml_positions(text: str, data) -> dict:
    """Best-effort positions for TOML (tomllib keeps none): array-of-table headers and keys."""
    lines = text.splitlines()
    positions: dict = {(): (1, 1)}
    counters: dict = {}
    header = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.\-]+)\s*\]\]")
    keyre = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")
    current: tuple = ()
    for n, line in enumerate(lines, 1):
        m = header.match(line)
        if m:
            key = tuple(m.group(1).split("."))
            idx = counters.get(key, 0)
            counters[key] = idx + 1
            current = key + (idx,)
            positions.setdefault(current, (n, m.start(1) - 1))
            continue
        m = keyre.match(line)
        if m:
            path = current + (m.group(1),)
            positions.setdefault(path, (n, m.start(1) + 1))
            # inline-table keys on the same line: name = {a = 1, b = 2}
            for km in re.finditer(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=", line):
                positions.setdefault(path + (km.group(1),), (n, km.start(1) + 1))
    return positions
