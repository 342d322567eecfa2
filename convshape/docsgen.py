"""Generate the reference parts of docs/ from the code (one source of truth).

    python -m convshape.docsgen           # rewrite the generated parts of docs/spec.md and docs/cli.md
    python -m convshape.docsgen --check   # exit 1 when one is stale (tests/test_docs.py does this)

Only the text between the BEGIN and END markers is generated; the prose around it is written by
hand. docs/spec.md gets every kind in REGISTRY with its family, the first line of its docstring,
its inputs, its torch module, and its arguments with types and defaults read from the pydantic
fields; docs/cli.md gets every command of the `convshape` click group with its usage, help and
options.
"""
from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path

from annotated_types import Ge, Gt, Le, Lt
from pydantic_core import PydanticUndefined

COMMAND = "python -m convshape.docsgen"
BEGIN = "<!-- BEGIN GENERATED: {what}; regenerate with `" + COMMAND + "` -->"
END = "<!-- END GENERATED -->"
DOCS = Path(__file__).resolve().parent.parent / "docs"

_BASIC = {int: "int", float: "number", bool: "bool", str: "string", type(None): "null"}


def type_text(tp, metadata=()) -> str:
    """A field type in words a spec writer uses: `int > 0 or list of int > 0`."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(tp)
        return type_text(base, [*metadata, *meta])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_text(a, metadata if a is not type(None) else ()) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        inner = type_text(args[0])
        return f"list of ({inner})" if " or " in inner else f"list of {inner}"
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in typing.get_args(tp))
    name = _BASIC.get(tp, getattr(tp, "__name__", str(tp)))
    bounds = []
    for m in _flat_metadata(metadata):
        for cls, op, attr in ((Gt, ">", "gt"), (Ge, "≥", "ge"), (Lt, "<", "lt"), (Le, "≤", "le")):
            if isinstance(m, cls):
                bounds.append(f"{op} {getattr(m, attr)}")
    return name + (" " + ", ".join(bounds) if bounds else "")


def _flat_metadata(metadata):
    """annotated_types bounds, including those pydantic's Field(...) keeps in its own metadata."""
    for m in metadata:
        inner = getattr(m, "metadata", None)
        if isinstance(inner, list):
            yield from inner
        else:
            yield m


def default_text(cls, name, field) -> str:
    if name in cls.inferred:
        return "inferred"
    if field.is_required() or field.default is PydanticUndefined:
        return "required"
    return f"`{value_text(field.default)}`"


def value_text(v) -> str:
    """A default as a spec writes it (YAML)."""
    if v is None:
        return "~"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(value_text(x) for x in v) + "]"
    return str(v)


def inputs_text(cls) -> str:
    lo, hi = cls.min_inputs, cls.max_inputs
    if hi == lo:
        return str(lo)
    return f"{lo} or more" if hi is None else f"{lo} to {hi}"


def torch_text(cls) -> str:
    kind = cls.kind
    if cls.torch_class == "same":
        return f"`torch.nn.{kind}`"
    if cls.torch_class is None:
        return f"`convshape.torch.modules.{kind}`"
    if cls.torch_class == "torchvision":
        return f"`torchvision.ops.{kind}`"
    return f"`{cls.torch_class}`"


def summary_line(cls) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0].strip().replace("*", "\\*") if doc else ""


def _signature(cls) -> tuple:
    """Kinds that differ only by rank (Conv1d/2d/3d) share one section."""
    fields = tuple((n, repr(f.annotation), repr(f.default)) for n, f in cls.model_fields.items())
    return (cls.family, summary_line(cls), fields, cls.inferred, inputs_text(cls), cls.torch_class)


def layer_reference(registry=None) -> str:
    if registry is None:
        from .layers import REGISTRY as registry
    families: dict = {}
    for kind in sorted(registry, key=lambda k: (registry[k].family, k)):
        families.setdefault(registry[kind].family, []).append(registry[kind])
    out = [f"{len(registry)} layer kinds in {len(families)} families. *inferred* arguments are read from "
           "the incoming tensor and, when written, checked against it. `~` is YAML's null.", "",
           "| family | kinds |", "|---|---|"]
    for family, classes in families.items():
        out.append(f"| [{family}](#{family}) | {', '.join(c.kind for c in classes)} |")
    for family, classes in families.items():
        out += ["", f"### {family}"]
        sections: dict = {}
        for cls in classes:
            sections.setdefault(_signature(cls), []).append(cls)
        for group in sections.values():
            cls = group[0]
            out += ["", f"#### {', '.join(c.kind for c in group)}", ""]
            line = summary_line(cls)
            if line:
                out.append(line)
                out.append("")
            torch = ", ".join(torch_text(c) for c in group)
            out.append(f"inputs: {inputs_text(cls)} · torch: {torch}")
            if cls.model_fields:
                out += ["", "| argument | type | default |", "|---|---|---|"]
                for name, field in cls.model_fields.items():
                    out.append(f"| `{name}` | {type_text(field.annotation, field.metadata)} | "
                               f"{default_text(cls, name, field)} |")
            else:
                out += ["", "no arguments"]
    return "\n".join(out) + "\n"


def cli_reference() -> str:
    """Every command of the `convshape` group: usage, help text and options."""
    import inspect

    import click

    from .cli import main

    out = []
    root = click.Context(main, info_name="convshape")
    for name in sorted(main.commands):
        cmd = main.commands[name]
        ctx = click.Context(cmd, info_name=name, parent=root)
        out += [f"### convshape {name}", "", "```", cmd.get_usage(ctx).strip(), "```", "",
                inspect.cleandoc(cmd.help or "").replace("\b\n", "")]
        options = [p for p in cmd.params if isinstance(p, click.Option)]
        if options:
            out += ["", "| option | values | default | meaning |", "|---|---|---|---|"]
            for p in options:
                out.append(f"| {', '.join(f'`{o}`' for o in p.opts + p.secondary_opts)} | {_values(p)} | "
                           f"{_default(p)} | {(p.help or '').replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


def _values(p) -> str:
    import click

    if p.is_flag:
        return "flag"
    if isinstance(p.type, click.Choice):
        return ", ".join(f"`{c}`" for c in p.type.choices)
    if isinstance(p.type, click.IntRange) and p.type.min is not None and p.type.max is None:
        return f"int ≥ {p.type.min}"
    if p.metavar:  # a pipe in a table cell must be escaped, even inside backticks (GFM)
        return f"`{p.metavar}`".replace("|", "\\|")
    return p.type.name


def _default(p) -> str:
    unset = type(p.default).__name__ == "Sentinel"  # click 8.3+ marks "no default" with a sentinel
    if p.default is None or unset or p.is_flag and p.default is False:
        return ""
    return f"`{value_text(p.default)}`"


def convention_reference() -> str:
    """Every --convention's rules (convshape/conventions/), for docs/conventions.md."""
    from .conventions.docs import reference
    return reference()


# file in docs/ -> (what the generated part is, its generator)
TARGETS = {"spec.md": ("layer reference", layer_reference), "cli.md": ("command reference", cli_reference),
           "conventions.md": ("convention rules", convention_reference)}


def update(text: str, reference: str, what: str) -> str:
    """`text` with the part between the markers replaced by `reference`."""
    begin = BEGIN.format(what=what)
    start, end = text.find(begin), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"missing markers {begin!r} ... {END!r}")
    return text[:start + len(begin)] + "\n" + reference + text[end:]


def stale(docs: Path = DOCS) -> list[Path]:
    """The generated docs whose generated part is not current."""
    out = []
    for name, (what, generate) in TARGETS.items():
        path = docs / name
        text = path.read_text(encoding="utf-8")
        if update(text, generate(), what) != text:
            out.append(path)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=COMMAND, description="Regenerate the reference parts of docs/.")
    ap.add_argument("--check", action="store_true", help="exit 1 if a generated doc is not current; change nothing")
    ap.add_argument("--docs", type=Path, default=DOCS, help="the docs folder (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.check:
        paths = stale(args.docs)
        for path in paths:
            print(f"{path} is stale: run `{COMMAND}`", file=sys.stderr)
        return 1 if paths else 0
    for name, (what, generate) in TARGETS.items():
        path = args.docs / name
        text = path.read_text(encoding="utf-8")
        new = update(text, generate(), what)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
