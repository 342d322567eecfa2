"""The `convshape` command line: each command is one API call plus one renderer.

Exit codes: 0 ok; 1 findings or a network invalid for this input; 2 usage or spec error.
"""
from __future__ import annotations

import sys

import click

from .errors import ConvshapeError

FORMATS = ["table", "json", "markdown", "csv", "mermaid"]
DTYPES = ["float32", "bfloat16", "float16", "float64"]


class Group(click.Group):
    """Turns every convshape error into one line on stderr with its exit code (never a traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConvshapeError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except RecursionError:
            click.echo("error: input nested too deeply", err=True)
            sys.exit(2)
        except Exception as e:  # a bug in convshape: still one line, and exit 2
            click.echo(f"error: internal error ({type(e).__name__}: {e}); please report it", err=True)
            sys.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="convshape")
def main():
    """Exact shapes, parameters, MACs/FLOPs, memory and receptive fields of CNN specs.

    SPEC is a YAML/JSON/TOML file or `zoo:NAME` (see `convshape zoo`).
    """


def input_option(f):
    return click.option("--input", "input_shape", metavar="SHAPE",
                        help="Input shape overriding the spec's, e.g. 1,3,224,224 or N,3,H,W.")(f)


def parse_input(value):
    if value is None:
        return None
    from .spec import parse_input_shape
    return parse_input_shape(value)


@main.command()
@click.argument("spec")
@input_option
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="Element type for activation and parameter bytes.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Collapse blocks nested deeper than this into one row each (0: top level only).")
def summary(spec, input_shape, dtype, fmt, depth):
    """Per-layer table: output shape, params, MACs, receptive field, with totals.

    Exit 1 when the network is invalid for the input, 2 for a bad spec or usage.
    """
    from .analysis import analyze
    from .spec import load

    network = load(spec)
    report = analyze(network, parse_input(input_shape), dtype=dtype)
    if fmt == "json":
        from .render import json as r
        click.echo(r.render(report))
    elif fmt == "table":
        from .render import table as r
        r.render(report, depth=depth)
    else:
        import importlib
        r = importlib.import_module(f".render.{fmt}", __package__)
        click.echo(r.render(report, depth=depth), nl=False)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def zoo(fmt):
    """List the bundled networks (use them as `zoo:NAME`)."""
    import json

    from .spec import load, zoo_names
    entries = []
    for name in zoo_names():
        net = load("zoo:" + name)
        entries.append({"name": name, "description": net.description,
                        "input": list(net.input_shape), "layers": len(net.nodes)})
    if fmt == "json":
        click.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        click.echo(f"{e['name']:<18} {e['description']}")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json", show_default=True,
              help="JSON Schema (draft 2020-12), for editors to validate and complete specs.")
def schema(fmt):
    """Print the JSON Schema of spec files, generated from the layer models."""
    import json

    from .spec.schema import spec_schema
    click.echo(json.dumps(spec_schema(), indent=2))


if __name__ == "__main__":
    main()
