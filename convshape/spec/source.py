"""Read a spec document (YAML, JSON or TOML) into plain data plus a map of source positions.

Safety: input is bounded in size; YAML is read event by event first (no recursion, no object
construction), rejecting non-standard tags, deep nesting and several documents; the composed
node graph is then measured as aliases would expand it (size, depth, self-reference) before any
plain data is built, so "billion laughs" documents fail in milliseconds. JSON and TOML go through
the standard library's parsers, with nesting bounded and located. Nothing in a spec is executed.

Positions: YAML nodes carry marks; JSON borrows them from the YAML reader (JSON is nearly a
subset of YAML); TOML positions come from a small scanner run after tomllib accepted the text.
"""
from __future__ import annotations

import bisect
import json
import math
import re
import stat
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
# Scalars become str/int/float/bool/None only; other implicit types (timestamps) stay strings.
_SCALAR_TAGS = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}
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
        info = p.stat()
        # a device (/dev/zero), FIFO or socket would be read forever or block: refused before opening
        if not stat.S_ISREG(info.st_mode):
            raise SpecError("not a regular file (a device, pipe or socket): give a spec file", file=path)
        if info.st_size > MAX_BYTES:
            raise SpecError(f"spec is {info.st_size} bytes, over the {MAX_BYTES}-byte limit", file=path)
        with open(p, "rb") as fh:  # bounded read: a file may grow, and /proc files report size 0
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise SpecError(f"spec is over the {MAX_BYTES}-byte limit", file=path)
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
        column = e.start - raw.rfind(b"\n", 0, e.start)
        raise SpecError(f"not UTF-8 text (invalid byte 0x{raw[e.start]:02x}); save the spec as UTF-8",
                        file=name, line=line, column=column) from None
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


# What the text scan below steps over: quoted scalars (either kind, may span lines), comments, brackets.
_FLOW_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"?|\'(?:\'\'|[^\'])*\'?|#[^\n]*|[\[\]{}]')
_JSON_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"?|[\[\]{}]')
# In block context a bracket or quote starts a node only at the start of a line or after an indicator
# (`- `, `? `, `: `, `---`), anchors and tags aside; elsewhere it belongs to a plain scalar (`a: x[1]`).
_BLOCK_NODE_START = re.compile(r'(?:^|[-?:]\s|^---\s)(?:\s*[&!][^\s]*)*\s*$')
# In flow context a quote starts a scalar only where a node can start (`[a'b]` is the plain scalar a'b).
_FLOW_NODE_START = re.compile(r'(?:^|[\[{,:?])(?:\s*[&!][^\s,\[\]{}]*)*\s*$')


def first_too_deep_bracket(text: str, fmt: str) -> int | None:
    """Offset of the first bracket that opens more than MAX_DEPTH nested flow collections, else None.

    convshape's own bound, found before any parser sees the text: parsers differ (libyaml 0.2.5, bundled
    with PyYAML 6.0.4, stops at 1,000 flow levels with its own message and position while scanning ahead).
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # fast path: most specs
        return None
    depth = 0
    token = _JSON_TOKEN if fmt == "json" else _FLOW_TOKEN
    pos = 0
    while True:
        m = token.search(text, pos)
        if m is None:
            return None
        start, tok = m.start(), m.group()
        pos = m.end()
        if fmt != "json":
            before = text[text.rfind("\n", 0, start) + 1: start]
            if tok[0] == "#":
                if before and not before[-1].isspace():  # `a#b` is text, not a comment
                    pos = start + 1
                continue
            if depth == 0 and not _BLOCK_NODE_START.search(before):
                pos = text.find("\n", start) + 1 or len(text)  # the rest of the line is a plain scalar
                continue
            if tok[0] in "'\"" and depth > 0 and not _FLOW_NODE_START.search(before):
                pos = start + 1  # a quote inside a plain scalar
                continue
        if tok == "[" or tok == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return start
        elif tok == "]" or tok == "}":
            depth = max(depth - 1, 0)


def _check_flow_depth(text: str, name: str, fmt: str) -> None:
    at = first_too_deep_bracket(text, fmt)
    if at is None:
        return
    if fmt != "json":
        # the exact place counts block collections too: read events up to this bracket only, where
        # every parser is within its own limits, and let the event scan below find it
        try:
            _prescan(text[: at + 1], name)
        except SpecError as e:
            if "nested deeper" in e.message:
                raise
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    raise SpecError(f"document nested deeper than {MAX_DEPTH} levels", file=name, line=line, column=column)


_BARE_ITEM = re.compile(r"^\s*-\s+([A-Za-z_]\w*)\s*(#.*)?$")


def _with_yaml_hint(err: SpecError, text: str) -> SpecError:
    """The common mistake behind 'mapping values are not allowed': a bare `- BatchNorm2d` list item
    followed by an indented `name:`; the kind needs a colon to take keys beside it."""
    if "mapping values are not allowed" not in err.message or err.line is None:
        return err
    before = [ln for ln in text.splitlines()[:err.line - 1] if ln.strip() and not ln.strip().startswith("#")]
    found = _BARE_ITEM.match(before[-1]) if before else None
    if not found:
        return err
    kind = found.group(1)
    return SpecError(f"{err.message}; a layer with keys beside it needs a colon after its kind: write "
                     f"`- {kind}:` (no arguments) or `- {kind}: {{...}}`, with `name:` on the next line",
                     file=err.file, line=err.line, column=err.column, field=err.field, note=err.note)


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
    data, smap = _read_yaml(text, name)
    _check_values(data, smap)
    return data, smap


def _read_yaml(text: str, name: str):
    """YAML text -> (plain data, SourceMap), refusing tags, several documents and unbounded expansion."""
    _check_flow_depth(text, name, "yaml")
    try:
        _prescan(text, name)
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise _with_yaml_hint(_yaml_error(e, name), text) from None
    except SpecError as e:
        raise _with_yaml_hint(e, text) from None
    if root is None:
        raise SpecError("empty spec", file=name, line=1, column=1)
    _check_expansion(root, name)
    positions: dict = {}
    data = _to_data(root, (), positions, name)
    return data, SourceMap(name, positions, text, "yaml")


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root, name: str) -> None:
    """Measure the document as aliases expand it (values, depth) without expanding it.

    Aliases share nodes, so this walks each node once: "billion laughs" is refused in milliseconds,
    and an alias to an enclosing node (a self-referencing document) is refused instead of looping.
    """
    size: dict = {}
    depth: dict = {}
    open_nodes: set = set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            problem = (f"document expands to more than {MAX_NODES} values (YAML aliases?)" if size[key] > MAX_NODES
                       else f"document nested deeper than {MAX_DEPTH} levels once YAML aliases are expanded"
                       if depth[key] > MAX_DEPTH + 1 else None)
            if problem:
                line, col = _mark(node.start_mark)
                raise SpecError(problem, file=name, line=line, column=col)
            continue
        if key in size:
            continue
        if key in open_nodes:  # reached again from inside itself
            line, col = _mark(node.start_mark)
            raise SpecError("a YAML alias refers to a node that contains it", file=name, line=line, column=col)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _to_data(node, path, positions, name):
    positions.setdefault(path, _mark(node.start_mark))
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _SCALAR_TAGS:  # `!` (quoted with a tag), timestamps: plain text
            return node.value
        try:
            return _constructor.yaml_constructors[node.tag](_constructor, node)
        except (yaml.YAMLError, ValueError, KeyError) as e:
            line, col = _mark(node.start_mark)
            raise SpecError(f"bad scalar {node.value!r}: {e}", file=name, line=line, column=col) from None
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(child, path + (i,), positions, name) for i, child in enumerate(node.value)]
    out: dict = {}
    merged: dict = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    line, col = _mark(src.start_mark)
                    raise SpecError("a YAML merge key (<<) must refer to a mapping", file=name, line=line, column=col)
                sub = _to_data(src, path, positions, name)
                for k, v in sub.items():
                    merged.setdefault(k, v)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            line, col = _mark(key_node.start_mark)
            raise SpecError("mapping keys must be plain scalars", file=name, line=line, column=col)
        key = _to_data(key_node, path + ("<key>",), positions, name)
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            line, col = _mark(key_node.start_mark)
            raise SpecError(f"mapping key {key_node.value!r} must be a name", file=name, line=line, column=col)
        key = str(key) if not isinstance(key, str) else key
        if key in out:
            line, col = _mark(key_node.start_mark)
            raise SpecError(f"duplicate key '{key}' (the earlier value would be lost)", file=name, line=line,
                            column=col, field=format_path(path + (key,)))
        positions[path + (key,)] = _mark(key_node.start_mark)
        out[key] = _to_data(value_node, path + (key,), positions, name)
    positions.pop(path + ("<key>",), None)
    for k, v in merged.items():
        out.setdefault(k, v)
    return out


# ---------------------------------------------------------------- checks common to all formats
def _check_values(data, smap: SourceMap) -> None:
    """Bound the nesting depth and refuse non-finite numbers (.inf, NaN, 1e999), with their location."""
    stack = [(data, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise smap.error(f"document nested deeper than {MAX_DEPTH} levels", path)
        if isinstance(value, float) and not math.isfinite(value):
            raise smap.error(f"number {value} is not finite: a spec holds sizes and finite hyperparameters", path)
        if isinstance(value, dict):  # pushed in reverse, so the first problem in the document is found
            stack.extend((v, path + (k,), depth + 1) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((value[i], path + (i,), depth + 1) for i in range(len(value) - 1, -1, -1))


# ---------------------------------------------------------------- JSON
class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _parse_json(text: str, name: str):
    _check_flow_depth(text, name, "json")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        before = text[: e.pos].rstrip()
        hint = " (JSON allows no comma before a closing bracket)" if before.endswith(",") and \
            text[e.pos: e.pos + 1] in "]}" else ""
        raise SpecError(f"invalid JSON: {e.msg}{hint}", file=name, line=e.lineno, column=e.colno) from None
    except (_DuplicateKey, RecursionError) as e:
        # json names no position for these; the YAML reader (JSON is nearly a subset of YAML) does
        try:
            _read_yaml(text, name)
        except SpecError as yaml_error:
            if not yaml_error.message.startswith("invalid YAML"):  # never call a JSON document YAML
                raise
        if isinstance(e, _DuplicateKey):
            raise SpecError(f"duplicate key '{e.args[0]}' (the earlier value would be lost)", file=name) from None
        raise SpecError(f"document nested deeper than {MAX_DEPTH} levels", file=name) from None
    # positions come from the YAML reader (its values may differ, e.g. NaN, but the paths are the same)
    try:
        _, smap = _read_yaml(text, name)
    except SpecError as e:
        if "nested deeper" in e.message or "expands" in e.message:
            raise
        smap = SourceMap(name, {}, text)
    smap.fmt = "json"
    _check_values(data, smap)
    return data, smap


# ---------------------------------------------------------------- TOML
_TOML_POS = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)")
# Strings (all four kinds), comments and brackets: enough to follow TOML's nesting without parsing it.
_TOML_TOKEN = re.compile(r'"""(?:\\.|[^\\])*?"{3,5}|\'\'\'.*?\'{3,5}|"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]',
                         re.S)
_TOML_MESSAGES = {"Cannot overwrite a value": "a key is set twice (cannot overwrite a value)"}


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
        problem = _TOML_POS.sub("", msg).strip()
        problem = _TOML_MESSAGES.get(problem, problem)
        if m and m.group(1):
            line, col = int(m.group(1)), int(m.group(2))
        else:  # "at end of document": point at what was left open, else at the end
            _, opened = _bracket_scan(text)
            line, col = _line_col(text, opened if opened is not None else len(text.rstrip()))
            if opened is not None:
                problem += f" (the bracket at line {line}, column {col} is never closed)"
        raise SpecError(f"invalid TOML: {problem}", file=name, line=line, column=col) from None
    except RecursionError:
        deep, _ = _bracket_scan(text)
        line, col = _line_col(text, deep) if deep is not None else (None, None)
        raise SpecError(f"document nested deeper than {MAX_DEPTH} levels", file=name, line=line, column=col) from None
    smap = SourceMap(name, _toml_positions(text), text, "toml")
    _check_values(data, smap)
    return data, smap


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _bracket_scan(text: str) -> tuple[int | None, int | None]:
    """(offset where nesting first passes MAX_DEPTH, offset of the innermost bracket left open)."""
    stack: list[int] = []
    deep = None
    for m in _TOML_TOKEN.finditer(text):
        c = m.group()
        if c in "[{":
            stack.append(m.start())
            if deep is None and len(stack) > MAX_DEPTH:
                deep = m.start()
        elif c in "]}":
            if stack:
                stack.pop()
    return deep, (stack[-1] if stack else None)


def _toml_positions(text: str) -> dict:
    """Positions of every key, table and array element of a TOML document (tomllib keeps none).

    Runs after tomllib has accepted the text, so it can assume valid TOML; being best effort, it
    keeps what it found if it meets something it does not follow.
    """
    scanner = _TomlScanner(text)
    try:
        scanner.document()
    except (IndexError, ValueError, KeyError):
        pass
    return scanner.positions


class _TomlScanner:
    _BARE = re.compile(r"[A-Za-z0-9_\-]+")
    _BASIC = re.compile(r'"(?:\\.|[^"\\\n])*"')
    _LITERAL = re.compile(r"'[^'\n]*'")
    _ML_BASIC = re.compile(r'"""(?:\\.|[^\\])*?"{3,5}', re.S)
    _ML_LITERAL = re.compile(r"'''.*?'{3,5}", re.S)
    _SCALAR = re.compile(r"[^,\]}#\n]+")  # numbers, booleans, dates (which may contain a space)

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.positions: dict = {(): (1, 1)}
        self.array_tables: dict = {}  # resolved path of a [[table]] -> index of its current element
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def mark(self, path: tuple, offset: int) -> None:
        self.positions.setdefault(path, self.where(offset))

    def skip(self, newlines: bool) -> None:
        """Skip blanks (and, where TOML allows, newlines and comments)."""
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c in " \t\r" or (newlines and c == "\n"):
                self.pos += 1
            elif c == "#" and newlines:
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def document(self) -> None:
        table: tuple = ()
        text = self.text
        while True:
            self.skip(newlines=True)
            if self.pos >= len(text):
                return
            start = self.pos
            if text.startswith("[[", start):
                self.pos += 2
                table = self.resolve(self.key(), array=True)
                self.mark(table, start)
                self.pos = text.index("]]", self.pos) + 2
            elif text[start] == "[":
                self.pos += 1
                table = self.resolve(self.key())
                self.mark(table, start)
                self.pos = text.index("]", self.pos) + 1
            else:
                self.keyval(table)
            self.skip(newlines=False)
            if self.pos < len(text) and text[self.pos] == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end

    def resolve(self, parts: list, array: bool = False) -> tuple:
        """A header's key parts -> document path, with the current index of each [[array table]]."""
        path: tuple = ()
        for n, (part, offset) in enumerate(parts):
            path += (part,)
            if array and n == len(parts) - 1:
                index = self.array_tables[path] = self.array_tables.get(path, -1) + 1
                self.mark(path, offset)
                path += (index,)
            elif path in self.array_tables:
                path += (self.array_tables[path],)
            else:
                self.mark(path, offset)
        return path

    def key(self) -> list:
        """A dotted key: [(part, offset), ...]."""
        parts = []
        while True:
            self.skip(newlines=False)
            start = self.pos
            c = self.text[start]
            if c in "\"'":
                m = (self._BASIC if c == '"' else self._LITERAL).match(self.text, start)
                part = _toml_key(m.group())
            else:
                m = self._BARE.match(self.text, start)
                part = m.group()
            parts.append((part, start))
            self.pos = m.end()
            self.skip(newlines=False)
            if self.pos < len(self.text) and self.text[self.pos] == ".":
                self.pos += 1
                continue
            return parts

    def keyval(self, table: tuple) -> None:
        path = table
        for part, offset in self.key():
            path += (part,)
            self.mark(path, offset)
        self.pos = self.text.index("=", self.pos) + 1
        self.skip(newlines=False)
        self.value(path)

    def value(self, path: tuple) -> None:
        text, start = self.text, self.pos
        c = text[start]
        if c == "[":
            self.pos += 1
            index = 0
            while True:
                self.skip(newlines=True)
                if text[self.pos] == "]":
                    self.pos += 1
                    return
                self.mark(path + (index,), self.pos)
                self.value(path + (index,))
                index += 1
                self.skip(newlines=True)
                if text[self.pos] == ",":
                    self.pos += 1
        elif c == "{":
            self.pos += 1
            while True:
                self.skip(newlines=True)
                if text[self.pos] == "}":
                    self.pos += 1
                    return
                if text[self.pos] == ",":
                    self.pos += 1
                    continue
                self.keyval(path)
        else:
            if text.startswith('"""', start):
                pattern = self._ML_BASIC
            elif text.startswith("'''", start):
                pattern = self._ML_LITERAL
            else:
                pattern = {'"': self._BASIC, "'": self._LITERAL}.get(c, self._SCALAR)
            self.pos = pattern.match(text, start).end()


def _toml_key(quoted: str) -> str:
    """The text of a quoted TOML key, escapes decoded by tomllib itself."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return next(iter(tomllib.loads(f"{quoted} = 0")))
