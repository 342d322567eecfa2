"""Expand a spec document (vars, blocks, repeat, when, named inputs) into a Network of layer models.

Document keys:  name, description, input, vars, blocks, layers, outputs, unused_params, lint.
Layer entry:    `ReLU`  or  `{Conv2d: {out_channels: 64, ...}, name: conv1, inputs: [a, b],
                 repeat: 3, when: expr, noqa: [CS101], shares: conv0, frozen: true}`.
`outputs` names the network's outputs (default: the last layer); `shares` reuses an earlier layer's
(or block instance's) weights; `frozen` makes a layer's (or block instance's) parameters non-trainable;
`unused_params` records parameters of modules forward never calls (import), counted in the totals.
Block args: `{planes: ~, stride: 1}`; `~` (null) marks a required arg. TOML has no null, so the
string "~" marks one too (a default of the text "~" would mean nothing).
A layer whose `when` is false is the identity: its name then refers to its own input; with several
inputs, to the one that is the layer just before it (a residual Add without its shortcut passes on
the main path).
"""
from __future__ import annotations

import difflib
import re
import types
import typing

from annotated_types import Ge, Gt
from pydantic import ValidationError

from ..errors import SpecError
from ..graph import INPUT, Network, Node
from ..layers import REGISTRY
from .expr import ExprError, evaluate, looks_like_expression
from .source import SourceMap

TOP_KEYS = ("name", "description", "input", "vars", "blocks", "layers", "outputs", "unused_params", "lint")
ENTRY_KEYS = ("name", "inputs", "repeat", "when", "noqa", "shares", "frozen")
BLOCK_KEYS = ("args", "layers", "description")
REQUIRED = "~"  # a block arg without a default, as TOML writes it
MAX_NODES = 100_000  # layers in one network: 10x the largest generated benchmark spec
MAX_BLOCK_DEPTH = 32
TEMPLATE = re.compile(r"\{([^{}]*)\}")  # `{expression}` parts of a layer name
NOT_IN_NAMES = " \t/:{}"  # characters a layer name may not hold (braces only around `{expression}` parts)


def suggest(word: str, choices) -> str:
    """"; did you mean 'X'?" for the closest of `choices` (case-insensitive match first), else ""."""
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    close = [lowered[word.lower()]] if word.lower() in lowered else \
        difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    # equal scores (CS2O1: CS201 or CS210?): the one agreeing at more positions
    close.sort(key=lambda c: (-difflib.SequenceMatcher(None, word, c).ratio(),
                              -sum(a == b for a, b in zip(word.lower(), c.lower()))))
    return f"; did you mean '{close[0]}'?" if close else ""


class _Builder:
    def __init__(self, doc: dict, smap: SourceMap):
        self.doc = doc
        self.smap = smap
        self.nodes: list[Node] = []
        self.names: set[str] = {INPUT}
        self.blocks: dict = {}
        self.vars: dict = {}
        self.layers: dict = {}  # (kind, arguments) -> validated layer: frozen models, shared by repeats
        self.by_name: dict = {}
        self.top: dict = {}     # top-level entry name -> the full name of its output
        self.paths: dict = {}   # top-level entry name -> its node name or block instance prefix

    def err(self, message, path, field=None):
        return self.smap.error(message, path, field)

    # ---- top level
    def build(self, input_override=None) -> Network:
        doc = self.doc
        if not isinstance(doc, dict):
            raise self.err("a spec must be a mapping with at least 'input' and 'layers'", ())
        for key in doc:
            if key not in TOP_KEYS:
                raise self.err(f"unknown top-level field '{key}'{suggest(key, TOP_KEYS)}", (key,))
        name = doc.get("name", "network")
        if not isinstance(name, str):
            raise self.err("'name' must be a string", ("name",))
        scope = self.vars = self._vars(doc.get("vars") or {})
        self.blocks = self._blocks(doc.get("blocks") or {})
        named = self._named_inputs(doc.get("input"), scope)
        if input_override is not None:
            input_shape = tuple(input_override)
        elif named:
            input_shape = named[0][1]
        else:
            if "input" not in doc:
                raise self.err("missing field 'input' (the input shape, e.g. [1, 3, 224, 224] or [N, 3, H, W])", ())
            input_shape = self._input(doc["input"], scope)
        layers = doc.get("layers")
        if not isinstance(layers, list) or not layers:
            raise self.err("'layers' must be a non-empty list", ("layers",) if "layers" in doc else ())
        self._check_size(layers)
        for n, _ in named:
            self.names.add(n)
        self._sequence(layers, ("layers",), scope, prefix="", entry_input=named[0][0] if named else INPUT, groups=(),
                       call_line=None, depth=0, scopes=(), named=tuple(n for n, _ in named))
        lint = doc.get("lint") or {}
        if not isinstance(lint, dict):
            raise self.err("'lint' must be a mapping", ("lint",))
        return Network(name=name, input_shape=input_shape, nodes=self.nodes, file=self.smap.file,
                       source=self.smap, lint_config=lint, description=str(doc.get("description", "")),
                       outputs=self._outputs(doc.get("outputs")), unused_params=self._unused(doc.get("unused_params")),
                       inputs=tuple(named))

    def _named_inputs(self, raw, scope) -> list:
        """`input: {image: [1, 3, H, W], mask: [1, 1, H, W]}`: several named inputs, in order."""
        if not isinstance(raw, dict):
            return []
        if not raw:
            raise self.err("'input' must name at least one input", ("input",))
        out = []
        for name, shape in raw.items():
            if not isinstance(name, str) or not name.isidentifier() or name == INPUT:
                raise self.err(f"input name {name!r} must be an identifier other than 'input'", ("input", name))
            out.append((name, self._input(shape, scope, ("input", name))))
        return out

    def _outputs(self, raw) -> tuple:
        """Top-level `outputs: [name, ...]`: layer (or block instance) names, or full node names."""
        if raw is None:
            return ()
        single = isinstance(raw, str)
        if not (single or isinstance(raw, list) and raw and all(isinstance(r, str) for r in raw)):
            raise self.err("'outputs' must be a layer name or a non-empty list of layer names", ("outputs",))
        out = []
        for j, ref in enumerate([raw] if single else raw):
            where = ("outputs",) if single else ("outputs", j)
            full = self.top.get(ref, ref if ref in self.names and ref != INPUT else None)
            if full is None or full == INPUT:
                raise self.err(f"unknown layer '{ref}' in outputs{_known(ref, self.top)}", where)
            if full in out:
                raise self.err(f"output '{ref}' is named twice", where)
            out.append(full)
        return tuple(out)

    def _unused(self, raw) -> tuple:
        """`unused_params: {module: params}` or `{module: {params: n, trainable_params: m, buffers: b,
        int64_buffers: i}}` (i of the b buffers are int64: 8 bytes in any dtype)."""
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            raise self.err("'unused_params' must be a mapping of module names to parameter counts",
                           ("unused_params",))
        out = []
        for module, v in raw.items():
            path = ("unused_params", module)
            n, t, b, i = (v, v, 0, 0) if not isinstance(v, dict) else \
                (v.get("params", 0), v.get("trainable_params", v.get("params", 0)), v.get("buffers", 0),
                 v.get("int64_buffers", 0))
            extra = set(v) - {"params", "trainable_params", "buffers", "int64_buffers"} if isinstance(v, dict) else set()
            if extra or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (n, t, b, i)) \
                    or t > n or i > b:
                raise self.err(f"unused_params '{module}' must be a count >= 0, or {{params: n, trainable_params: m, "
                               f"buffers: b, int64_buffers: i}} with 0 <= m <= n and 0 <= i <= b", path)
            out.append((str(module), n, t, b, i))
        return tuple(out)

    def _vars(self, raw) -> dict:
        if not isinstance(raw, dict):
            raise self.err("'vars' must be a mapping of names to values", ("vars",))
        scope: dict = {}
        for k, v in raw.items():
            if not k.isidentifier():
                raise self.err(f"variable name '{k}' is not an identifier", ("vars", k))
            scope[k] = self._resolve(v, scope, ("vars", k))
        return scope

    def _blocks(self, raw) -> dict:
        if not isinstance(raw, dict):
            raise self.err("'blocks' must be a mapping of block names to definitions", ("blocks",))
        out = {}
        for bname, body in raw.items():
            path = ("blocks", bname)
            if bname in REGISTRY:
                raise self.err(f"block '{bname}' has the name of a built-in layer type", path)
            if not isinstance(body, dict):
                raise self.err(f"block '{bname}' must be a mapping with 'args' and 'layers'", path)
            for key in body:
                if key not in BLOCK_KEYS:
                    raise self.err(f"unknown field '{key}' in block '{bname}'{suggest(key, BLOCK_KEYS)}", path + (key,))
            args = body.get("args") or {}
            if not isinstance(args, dict):
                raise self.err("block 'args' must be a mapping of names to defaults (~ for required)", path + ("args",))
            for a in args:
                if not str(a).isidentifier():
                    raise self.err(f"block argument '{a}' is not an identifier", path + ("args", a))
            if not isinstance(body.get("layers"), list) or not body["layers"]:
                raise self.err(f"block '{bname}' needs a non-empty 'layers' list", path)
            out[bname] = body
        return out

    def _input(self, raw, scope, path=("input",)) -> tuple:
        if not isinstance(raw, list) or not raw:
            raise self.err("'input' must be a list of sizes, e.g. [1, 3, 224, 224] or [N, 3, H, W], or a "
                           "mapping of input names to such lists", path)
        shape = []
        for i, d in enumerate(raw):
            if isinstance(d, bool):
                raise self.err(f"input size {d!r} is not a number or a symbol name", path + (i,))
            if isinstance(d, str) and d in scope:
                d = scope[d]
            if isinstance(d, int):
                if d < 1:
                    raise self.err(f"input size must be >= 1, got {d}", path + (i,))
                shape.append(d)
            elif isinstance(d, str) and d.isidentifier():
                shape.append(d)
            else:
                raise self.err(f"input size {d!r} is not a positive int or a symbol name", path + (i,))
        return tuple(shape)

    # ---- values
    def _resolve(self, value, scope, path, expression=False):
        """Evaluate expressions in a value; `expression` makes a bare word a name, never a string."""
        if isinstance(value, str):
            if value in scope:
                return scope[value]
            if expression or looks_like_expression(value, scope):
                try:
                    return evaluate(value, scope)
                except ExprError as e:
                    raise self.err(str(e), path) from None
            return value
        if isinstance(value, list):
            return [self._resolve(v, scope, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self._resolve(v, scope, path + (k,)) for k, v in value.items()}
        return value

    # ---- layer lists
    def _sequence(self, entries, path, scope, prefix, entry_input, groups, call_line, depth, scopes=(),
                  frozen=False, share=None, named=()):
        """Expand a list of entries; returns the full name of the list's output.

        `frozen`: the entries belong to a frozen block instance; `share`: they reuse the weights of
        the nodes of another instance, whose names are `share` + (name without `prefix`)."""
        local: dict = {INPUT: entry_input, **{n: n for n in named}}
        paths: dict = {}  # entry name -> its node name or block instance prefix (for `shares`)
        order = [e.get("name") if isinstance(e, dict) else None for e in entries]
        explicit = {n for n in order if isinstance(n, str)}  # a set: lookups stay O(1) in long lists
        previous = entry_input
        counts: dict = {}
        for idx, entry in enumerate(entries):
            epath = path + (idx,)
            kind, args, meta = self._split_entry(entry, epath)
            when = meta.get("when", True)
            name = meta.get("name")
            if name is None:  # automatic name, skipping names the list gives explicitly
                while name is None or name in local or name in explicit:
                    counts[kind] = counts.get(kind, 0) + 1
                    name = f"{kind.lower()}_{counts[kind]}"
            elif not isinstance(name, str) or not name or any(c in TEMPLATE.sub("", name) for c in NOT_IN_NAMES):
                raise self.err(f"layer name {name!r} must be a non-empty string without spaces, '/', ':' or "
                               f"unbalanced braces", epath + ("name",))
            templated = "{" in name
            if name in local and name != INPUT:
                raise self.err(f"duplicate layer name '{name}'", epath + ("name",))
            if name == INPUT:
                raise self.err("'input' is reserved for the network (or block) input", epath + ("name",))
            if "inputs" in meta:
                ins = meta["inputs"]
                single = isinstance(ins, str)
                ins = [ins] if single else ins
                if not isinstance(ins, list) or not ins or not all(isinstance(i, str) for i in ins):
                    raise self.err("'inputs' must be a layer name or a list of layer names", epath + ("inputs",))
                sources = []
                for j, ref in enumerate(ins):
                    if ref not in local:
                        where = epath + (("inputs",) if single else ("inputs", j))
                        if ref in explicit and order.index(ref) >= idx:
                            raise self.err(f"'{name}' takes input from '{ref}', which comes at or after it: "
                                           f"layers may only read earlier layers, so cycles are impossible", where)
                        raise self.err(f"unknown layer '{ref}' in inputs{_known(ref, local)}", where)
                    sources.append(local[ref])
            else:
                sources = [previous]
            repeat = meta.get("repeat", 1)
            if "repeat" in meta:
                repeat = self._resolve(repeat, scope, epath + ("repeat",), expression=True)
                if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
                    raise self.err(f"'repeat' must be an integer >= 0, got {repeat!r}", epath + ("repeat",))
                if repeat > MAX_NODES:
                    raise self.err(f"'repeat' is {repeat}, over the limit of {MAX_NODES} layers in a network",
                                   epath + ("repeat",))
            owner = self._shares(meta, paths, epath) if "shares" in meta else None
            efrozen = self._frozen(meta, epath) or frozen
            if owner is not None and meta.get("frozen"):
                raise self.err("a layer that shares weights is frozen when the layer it shares is: write 'frozen' "
                               "there", epath + ("frozen",))
            out = sources[0] if len(sources) == 1 else None
            # a repeated entry is one level of the layer hierarchy (for --depth), above its instances
            group = TEMPLATE.sub("*", name)  # denselayer{i + 1} -> denselayer* as the repeated entry's row
            rscopes = scopes + ((prefix + group, kind, True),) if "repeat" in meta else scopes
            for r in range(repeat):
                iscope = dict(scope, i=r) if "repeat" in meta else scope
                active = self._resolve(when, iscope, epath + ("when",), expression=True) if "when" in meta else True
                if not isinstance(active, bool):
                    raise self.err(f"'when' must be true or false (or an expression giving one), got {active!r}",
                                   epath + ("when",))
                if templated:
                    full = prefix + self._expand_name(name, iscope, epath + ("name",))
                    if full in self.names:  # a block instance's inner names are checked as they are added
                        raise self.err(f"layer name '{full}' is used twice", epath + ("name",))
                else:
                    full = prefix + name + (f".{r}" if "repeat" in meta else "")
                feed = sources if r == 0 else [out]
                if not active:
                    if len(feed) == 1:
                        out = feed[0]
                    elif previous in feed:  # e.g. a residual Add without its shortcut: the main path
                        out = previous
                    else:
                        raise self.err(f"'{name}' is switched off by 'when' but none of its inputs is the layer "
                                       f"just before it, so it has no single input to pass on", epath + ("when",))
                    continue
                line, col = self.smap.where(epath + (kind,) if isinstance(entry, dict) else epath)
                here_call = call_line if call_line is not None else line
                mine = owner if owner is not None else share + full[len(prefix):] if share is not None else None
                if kind in self.blocks:
                    out = self._instance(kind, args, epath, iscope, full, feed, groups, here_call, depth, meta,
                                         rscopes, efrozen, None if mine is None else mine + ".")
                else:
                    layer = self._layer(kind, args, epath, iscope)
                    if mine is not None:
                        self._check_owner(mine, layer, epath + (("shares",) if owner is not None else ()))
                    out = self._add(Node(name=full, layer=layer, inputs=tuple(feed), line=line, column=col,
                                         spec_path=epath, groups=groups, scopes=rscopes, call_line=here_call,
                                         noqa=tuple(meta.get("noqa", ())), shares=mine, frozen=efrozen), epath)
                paths[name] = full
            if out is None:
                raise self.err(f"'{name}' has several inputs but repeats 0 times", epath)
            local[name] = out
            previous = out
        if depth == 0:
            self.top, self.paths = local, paths
        return previous

    def _shares(self, meta, paths, path) -> str:
        """The node name (or block instance prefix) an entry's `shares` names: earlier, not repeated."""
        ref = meta["shares"]
        if not isinstance(ref, str):
            raise self.err("'shares' must be the name of an earlier layer or block instance", path + ("shares",))
        full = paths.get(ref, self.paths.get(ref, ref))
        if full not in self.names and not any(n.startswith(full + ".") for n in self.names):
            raise self.err(f"'shares' names '{ref}', which is no earlier layer or block instance"
                           f"{_known(ref, paths)}", path + ("shares",))
        return full

    def _frozen(self, meta, path) -> bool:
        value = meta.get("frozen", False)
        if not isinstance(value, bool):
            raise self.err(f"'frozen' must be true or false, got {value!r}", path + ("frozen",))
        return value

    def _check_owner(self, owner: str, layer, path):
        if owner not in self.names:
            raise self.err(f"shares the weights of '{owner}', which is no earlier layer", path)
        have = self.by_name[owner]
        if have.layer.kind != layer.kind or have.layer != layer:
            raise self.err(f"shares the weights of '{owner}' ({have.layer.kind}) but its arguments differ: "
                           f"a layer that reuses weights must be the same layer", path)

    def _expand_name(self, name, scope, path) -> str:
        """A name with `{expression}` parts, e.g. `denselayer{i + 1}` (torch's "denselayer%d" % (i + 1))."""
        def part(match):
            value = self._resolve(match.group(1), scope, path, expression=True)
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise self.err(f"'{{{match.group(1)}}}' in layer name {name!r} must give an int or a name, "
                               f"got {value!r}", path)
            return str(value)
        full = TEMPLATE.sub(part, name)
        if not full or any(c in full for c in NOT_IN_NAMES):
            raise self.err(f"layer name {name!r} gives {full!r}, which has spaces, '/', ':' or braces", path)
        return full

    def _split_entry(self, entry, path):
        if isinstance(entry, str):
            kind, args, meta = entry, {}, {}
        elif isinstance(entry, dict):
            kinds = [k for k in entry if k not in ENTRY_KEYS]
            if len(kinds) != 1:
                if not kinds:
                    raise self.err("layer entry names no layer type (e.g. Conv2d: {...})", path)
                raise self.err(f"layer entry names several types {kinds}: one entry is one layer "
                               f"(other keys allowed: {', '.join(ENTRY_KEYS)})", path + (kinds[1],))
            kind = kinds[0]
            args = entry[kind]
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise self.err(f"arguments of {kind} must be a mapping, got {type(args).__name__} {args!r}", path + (kind,))
            meta = {k: entry[k] for k in entry if k in ENTRY_KEYS}
            if "noqa" in meta:
                codes = meta["noqa"]
                codes = [codes] if isinstance(codes, str) else codes
                if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                    raise self.err("'noqa' must be a rule code or a list of codes", path + ("noqa",))
                meta["noqa"] = codes
        else:
            raise self.err(f"a layer entry must be a type name or a mapping, got {type(entry).__name__} {entry!r}", path)
        if kind not in REGISTRY and kind not in self.blocks:
            hint = suggest(kind, list(REGISTRY) + list(self.blocks)) or \
                " (layer types are torch.nn class names such as Conv2d or BatchNorm2d, or blocks under 'blocks')"
            raise self.err(f"unknown layer type '{kind}'{hint}", path + ((kind,) if isinstance(entry, dict) else ()))
        return kind, args, meta

    def _layer(self, kind, args, path, scope):
        cls = REGISTRY[kind]
        values = {k: self._resolve(v, scope, path + (kind, k)) for k, v in args.items()}
        # lists become tuples: hashable for the cache, and the one conversion strict mode does not make
        frozen = _tuples(values)
        key = (kind, tuple(frozen.items()))
        try:
            layer = self.layers.get(key)
        except TypeError:  # an unhashable value (a mapping): validation will refuse it
            key, layer = None, None
        if layer is None:
            try:
                # strict: a spec value is taken as written (`bias: 1` or `bias: "yes"` is not a bool)
                layer = cls.model_validate(frozen, strict=True)
            except ValidationError as e:
                raise self._validation_error(e, cls, values, path + (kind,), scope) from None
            if key is not None:
                self.layers[key] = layer
        return layer

    def _validation_error(self, exc: ValidationError, cls, values, path, scope):
        """One readable message for the most useful of pydantic's errors (unknown names first)."""
        errors = exc.errors()
        rank = {"extra_forbidden": 0, "missing": 2}
        err = min(errors, key=lambda e: rank.get(e["type"], 1))
        field = err["loc"][0] if err["loc"] else None
        kind = cls.kind
        if err["type"] == "extra_forbidden":
            return self.err(f"unknown argument '{field}' for {kind}{suggest(str(field), cls.model_fields)}",
                            path + (field,))
        if err["type"] == "missing":
            return self.err(f"missing required argument '{field}' for {kind}", path)
        if field is None:  # a check across arguments (a model validator), e.g. groups vs out_channels
            return self.err(f"{kind}: {err['msg'].removeprefix('Value error, ')}", path)
        got = values.get(field)
        mine = [e for e in errors if e["loc"] and e["loc"][0] == field]
        if all(e["type"].endswith(("_type", "_parsing")) or e["type"] == "literal_error" for e in mine):
            msg = f"{kind}: {field} must be {describe_field(cls.model_fields[field])}, got {_show(got)}"
            annotation = cls.model_fields[field].annotation
            if isinstance(got, str) and got.isidentifier() and _takes(annotation, (int, float)) \
                    and not _takes(annotation, (str,)):  # a word where a number goes: meant a variable?
                msg += suggest(got, scope) or f" ('{got}' is not a variable here)"
        else:  # a constraint on a value of the right type, e.g. kernel_size: [3, 0] (located at the 0)
            err = max((e for e in mine if not e["type"].endswith("_type")), key=lambda e: len(e["loc"]))
            index = tuple(p for p in err["loc"][1:] if isinstance(p, int))
            msg = f"{kind}: {field}{''.join(f'[{i}]' for i in index)} {_should(err['msg'])}, got {_show(got)}"
            return self.err(msg, path + (field,) + index)
        return self.err(msg, path + (field,))

    def _instance(self, bname, args, path, scope, full, feed, groups, call_line, depth, meta, scopes=(),
                  frozen=False, share=None):
        if depth >= MAX_BLOCK_DEPTH:
            raise self.err(f"blocks nested deeper than {MAX_BLOCK_DEPTH} (a block using itself?)", path)
        body = self.blocks[bname]
        declared = body.get("args") or {}
        values = {k: self._resolve(v, scope, path + (bname, k)) for k, v in args.items()}
        bscope = dict(self.vars)
        for k in values:
            if k not in declared:
                raise self.err(f"unknown argument '{k}' for block {bname}{suggest(k, declared)}", path + (bname, k))
        for k, default in declared.items():
            if k in values:
                bscope[k] = values[k]
            elif default is None or default == REQUIRED:
                raise self.err(f"missing required argument '{k}' for block {bname}", path + (bname,))
            else:
                bscope[k] = self._resolve(default, bscope, ("blocks", bname, "args", k))
        if "i" in scope and "i" not in bscope:
            bscope["i"] = scope["i"]
        if len(feed) != 1:
            raise self.err(f"block {bname} takes one input, got {len(feed)}", path + ("inputs",))
        try:
            return self._sequence(body["layers"], ("blocks", bname, "layers"), bscope, prefix=full + ".",
                                  entry_input=feed[0], groups=groups + ((full, bname),), call_line=call_line,
                                  depth=depth + 1, scopes=scopes + ((full, bname, False),), frozen=frozen,
                                  share=share)
        except SpecError as e:  # say which use of the block failed (once: the innermost one)
            line, _ = self.smap.where(path + (bname,))
            raise e.noted(f"in {bname} '{full}' used at line {line}" if line else f"in {bname} '{full}'") from None

    def _check_size(self, layers):
        """Refuse at once a spec whose literal repeat counts multiply past MAX_NODES (blocks of blocks,
        each repeated 10 times, ...). A lower bound: repeats and `when`s known only while building
        count nothing here, and _add's limit bounds those."""
        sizes: dict = {}

        def entry_size(entry, seen) -> int:
            if isinstance(entry, str):
                kind, repeat = entry, 1
            elif isinstance(entry, dict):
                kind = next((k for k in entry if k not in ENTRY_KEYS), None)
                repeat = entry.get("repeat", 1)
                if "when" in entry or not isinstance(repeat, int) or isinstance(repeat, bool):
                    repeat = 0
            else:
                return 0
            if kind in self.blocks and kind not in seen:
                if kind not in sizes:
                    sizes[kind] = list_size(self.blocks[kind]["layers"], seen | {kind})
                return min(repeat * sizes[kind], MAX_NODES + 1)
            return min(repeat, MAX_NODES + 1)

        def list_size(entries, seen) -> int:
            total = 0
            for entry in entries:
                total = min(total + entry_size(entry, seen), MAX_NODES + 1)
            return total

        total = 0
        for idx, entry in enumerate(layers):
            total += entry_size(entry, frozenset())
            if total > MAX_NODES:
                raise self.err(f"network expands to more than {MAX_NODES} layers", ("layers", idx))

    def _add(self, node: Node, path):
        if node.name in self.names:
            raise self.err(f"layer name '{node.name}' is used twice", path)
        if len(self.nodes) >= MAX_NODES:
            raise self.err(f"network expands to more than {MAX_NODES} layers", path)
        cls = type(node.layer)
        if len(node.inputs) < cls.min_inputs or (cls.max_inputs is not None and len(node.inputs) > cls.max_inputs):
            want = str(cls.min_inputs) if cls.max_inputs == cls.min_inputs else \
                f"{cls.min_inputs} or more" if cls.max_inputs is None else f"{cls.min_inputs} to {cls.max_inputs}"
            raise self.err(f"{cls.kind} takes {want} input(s), got {len(node.inputs)} (set 'inputs')", path)
        self.names.add(node.name)
        self.by_name[node.name] = node
        self.nodes.append(node)
        return node.name


def _known(ref: str, local: dict) -> str:
    """A suggestion, or the names that can be used at this point of the list."""
    hint = suggest(ref, local)
    if hint:
        return hint
    names = list(local)
    return f"; names usable here: {'..., ' if len(names) > 8 else ''}{', '.join(names[-8:])}"


def _takes(tp, kinds: tuple) -> bool:
    """Whether a field's type accepts some value of these Python types (a Literal's values count)."""
    if tp in kinds:
        return True
    if typing.get_origin(tp) is typing.Literal:
        return any(type(a) in kinds for a in typing.get_args(tp))
    return any(_takes(a, kinds) for a in typing.get_args(tp) if isinstance(a, type) or typing.get_origin(a))


def _tuples(value):
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _show(value) -> str:
    """A value as the spec writes it (lists, true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _should(msg: str) -> str:
    """pydantic's "Input should be greater than 0" -> "must be greater than 0"."""
    msg = msg.removeprefix("Value error, ")
    return "must" + msg[len("Input should"):] if msg.startswith("Input should") else msg


def _either(words: list) -> str:
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def describe_field(field) -> str:
    """What a layer argument accepts, in words: "an integer > 0 or a list of integers > 0"."""
    return _describe(field.annotation, field.metadata)


def _describe(tp, metadata=(), plural=False) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(tp)
        return _describe(base, list(metadata) + meta, plural)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        words = [_describe(a, metadata, plural) for a in args if a is not type(None)]
        return _either(words + (["~ (null)"] if type(None) in args else []))
    if origin is tuple:
        return ("lists" if plural else "a list") + " of " + _describe(typing.get_args(tp)[0], (), True)
    if origin is typing.Literal:
        return _either([repr(a) for a in typing.get_args(tp)])
    bound = "".join(f" > {m.gt}" if isinstance(m, Gt) else f" >= {m.ge}" if isinstance(m, Ge) else ""
                    for m in metadata)
    names = {bool: ("true or false", "true or false"), int: ("an integer", "integers"),
             float: ("a number", "numbers"), str: ("a string", "strings")}
    if tp in names:
        return names[tp][plural] + ("" if tp is bool else bound)
    return getattr(tp, "__name__", str(tp))


def build_network(doc, smap: SourceMap, input_override=None) -> Network:
    return _Builder(doc, smap).build(input_override)
