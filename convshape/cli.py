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
            # hints (constraints.size_hints: "H=100 is not valid: use 96 or 112 (...)") stay on the one line
            # explained: lint's message for the same failure (lint/explain.py), so both commands agree
            text = getattr(e, "explained", None) or str(e)
            hints = list(getattr(e, "hints", ()))
            if hints:  # after a sentence, hints are sentences too; after a bare message, a clause
                text += (" " if text.endswith(".") else "; ") + "; ".join(hints)
            click.echo(f"error: {text}", err=True)
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

    SPEC is a YAML/JSON/TOML file, `zoo:NAME` (see `convshape zoo`), or torch code
    `PKG.MODULE:FACTORY` (with --kwargs; traced at --input), e.g. torchvision.models:resnet18.
    """


def input_option(f):
    return click.option("--input", "input_shape", metavar="SHAPE",
                        help="Input shape overriding the spec's, e.g. 1,3,224,224 or N,3,H,W.")(f)


def parse_input(value, network=None):
    """--input as a shape; with the network, one of another rank is refused (names the dims it takes)."""
    if value is None:
        return None
    from .spec import check_input_rank, parse_input_shape
    shape = parse_input_shape(value)
    if network is not None:
        check_input_rank(network, shape)
    return shape


def kwargs_option(f):
    return click.option("--kwargs", "kwargs_json", default=None, metavar="JSON",
                        help='Keyword arguments when SPEC is torch code (PKG.MODULE:FACTORY), '
                             'e.g. \'{"num_classes": 10}\'.')(f)


def load_spec(spec, input_shape=None, kwargs_json=None):
    """(Network, --input shape) for a file, zoo:NAME, or torch code PKG.MODULE:FACTORY (traced at --input)."""
    from .errors import SpecError
    from .spec import load
    from .spec.factory import is_factory_ref, load_factory, parse_kwargs
    if is_factory_ref(spec):
        shape = parse_input(input_shape)
        return load_factory(spec, shape, parse_kwargs(kwargs_json)), shape
    if kwargs_json is not None:
        raise SpecError(f"--kwargs applies to torch code (PKG.MODULE:FACTORY), not to {spec!r}")
    network = load(spec)
    return network, parse_input(input_shape, network)


@main.command()
@click.argument("spec")
@input_option
@kwargs_option
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="Element type for activation and parameter bytes.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Collapse blocks nested deeper than this into one row each (0: top level only).")
@click.option("--columns", metavar="KEYS", default=None,
              help="Table columns, comma-separated, from: type, output, params, params%, macs, macs%, flops, "
                   "bytes, rf, rf-stride [default: type,output,params,macs,bytes,rf,rf-stride].")
@click.option("--units", type=click.Choice(["auto", "human", "exact"]), default="auto", show_default=True,
              help="Table numbers: exact (11,689,512), human (11.7 M, 31.4 MiB), or auto: exact unless "
                   "abbreviating them makes the table fit.")
@click.option("--width", type=click.IntRange(min=20), default=None,
              help="Fit the table to this many columns (default: the terminal's; piped: its natural width).")
@click.option("--by", type=click.Choice(["layer", "type"]), default="layer", show_default=True,
              help="One row per layer, or per layer type with its share of params and MACs (table).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the summary to this file instead of standard output.")
@click.option("--convention", metavar="TOOL", default=None,
              help="Add another tool's figure per layer and in total, next to convshape's MACs (table, json, "
                   "markdown, csv): torchinfo (mult-adds), torchinfo-1.8.0, fvcore (flops), ptflops (MACs, its "
                   "default pytorch backend), ptflops-aten, thop (MACs) or torch (FlopCounterMode FLOPs); "
                   "'-' where the tool does not count a layer. Rules: docs/conventions.md.")
def summary(spec, input_shape, kwargs_json, dtype, fmt, depth, columns, units, width, by, output, convention):
    """Per-layer table: output shape, params, MACs, receptive field, with totals.

    Exit 1 when the network is invalid for the input, or --convention has no exact rule for one of its
    layers (the kind is named); 2 for a bad spec or usage.
    """
    from .analysis import analyze
    from .constraints import size_hints

    network, shape = load_spec(spec, input_shape, kwargs_json)
    with size_hints(network, shape):
        report = analyze(network, shape, dtype=dtype)
    peer = None
    if convention is not None:
        if fmt == "mermaid":
            from .errors import SpecError
            raise SpecError("--convention applies to --format table, json, markdown and csv, not mermaid")
        from .conventions import count
        peer = count(report, convention, network)
    by = None if by == "layer" else by
    if fmt == "table":
        from .render import table as r
        keys = r.parse_columns(columns, by)
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                r.render(report, depth=depth, columns=keys, units=units, width=width, by=by, file=fh,
                         convention=peer)
        else:
            r.render(report, depth=depth, columns=keys, units=units, width=width, by=by, convention=peer)
        return
    if fmt == "json":
        from .render import json as r
        text = r.render(report, convention=peer) + "\n"
    else:
        import importlib
        r = importlib.import_module(f".render.{fmt}", __package__)
        text = r.render(report, depth=depth, **({"convention": peer} if peer is not None else {}))
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("spec")
@input_option
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="Element type of the model (bfloat16/float16 with --train: float32 master weights).")
@click.option("--train", is_flag=True, help="One training step (forward, backward, optimizer step) instead of inference.")
@click.option("--optimizer", type=click.Choice(["sgd", "sgd-momentum", "adam", "adamw"]), default="sgd",
              show_default=True, help="Optimizer state for --train.")
@click.option("--master/--no-master", default=None,
              help="float32 master weights and optimizer state (default: on for bfloat16/float16).")
@click.option("--budget", metavar="BYTES", help="Solve for the largest batch that fits, e.g. 24GiB.")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="With --budget: fix the batch and solve for the largest square input instead.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def memory(spec, input_shape, dtype, train, optimizer, master, budget, batch, fmt):
    """Peak memory of eager PyTorch before it runs (docs/memory.md), and the largest batch that fits.

    Inference: parameters, buffers and the largest set of live tensors. --train: plus what autograd
    saves for backward, gradients and optimizer state, peak over forward, backward and step.
    Exit 1 when --budget is given and nothing fits, 2 for a bad spec or usage.
    """
    from .errors import SpecError
    from .lint.config import parse_size
    from .memory.budget import largest_batch, largest_square, memory_figure
    from .render import memory as r
    from .spec import load

    network = load(spec)
    shape = parse_input(input_shape) or tuple(network.input_shape)
    if batch is not None:
        if budget is None:
            raise SpecError("--batch needs --budget (it fixes the batch while solving for the input size)")
        shape = (batch,) + tuple(shape[1:])
    limit_bytes = None
    if budget is not None:
        try:
            limit_bytes = parse_size(budget)
        except ValueError as e:
            raise SpecError(f"--budget: {e}") from None
    mixed = dtype in ("bfloat16", "float16") if master is None else master
    kw = {"dtype": dtype, "train": train, "optimizer": optimizer, "master": mixed}
    settings = {"dtype": dtype, "train": train, "optimizer": optimizer if train else None, "master": train and mixed}
    limit = None
    if limit_bytes is not None:
        solve = largest_square if batch is not None else largest_batch
        limit = solve(network, shape, limit_bytes, **kw)
        fig = limit.fits or limit.over
    else:
        fig = memory_figure(network, shape, **kw)
    render = r.render_json if fmt == "json" else r.render_text
    click.echo(render(network.name, settings, fig, limit, limit_bytes), nl=fmt == "json")
    sys.exit(1 if limit is not None and limit.value == 0 else 0)


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


LINT_FORMATS = ["text", "json", "sarif", "github", "markdown"]


@main.command()
@click.argument("specs", nargs=-1, required=True)
@input_option
@kwargs_option
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="Element type for activation bytes (--max-activation-bytes).")
@click.option("--format", "fmt", type=click.Choice(LINT_FORMATS), default="text", show_default=True,
              help="text: file:line:col: CODE message; github: workflow annotations; sarif: SARIF 2.1.0; "
                   "markdown: PR comment with a Mermaid diagram of each flagged region.")
@click.option("--select", multiple=True, metavar="CODES",
              help="Enable only rules matching these codes or prefixes (comma-separated, repeatable): CS1,CS201.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Disable rules matching these codes or prefixes.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info", "never"]), default="error",
              show_default=True, help="Exit 1 when a finding of this severity or worse is reported.")
@click.option("--max-params", metavar="N", help="Budget: total parameters (e.g. 25M, 1000000).")
@click.option("--max-macs", metavar="N", help="Budget: multiply-accumulates per forward pass (e.g. 4G).")
@click.option("--max-activation-bytes", metavar="N", help="Budget: bytes of all activations (e.g. 512MiB).")
@click.option("--min-receptive-field", metavar="N", help="Budget: input pixels the features must see per axis.")
@click.option("--max-train-memory", metavar="N",
              help="Budget: peak bytes of one training step with plain SGD (e.g. 24GiB; docs/memory.md).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="pyproject.toml to read [tool.convshape] from (default: the nearest one upwards).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to this file instead of standard output.")
def lint(specs, input_shape, kwargs_json, dtype, fmt, select, ignore, fail_on, max_params, max_macs,
         max_activation_bytes, min_receptive_field, max_train_memory, config, output):
    """Check network specs for errors, design mistakes and budgets (rules: `convshape rules`).

    SPECS are files, globs (quote them: 'models/**/*.yaml'), zoo:NAME or torch code PKG.MODULE:FACTORY
    (with --kwargs, traced at --input). Exit 0 when no finding
    reaches --fail-on, 1 when one does, 2 when a spec cannot be read or an option is wrong.
    """
    import importlib

    from .lint.config import Options
    from .lint.runner import lint_paths

    options = Options.from_cli(select=select, ignore=ignore, max_params=max_params, max_macs=max_macs,
                               max_activation_bytes=max_activation_bytes, min_receptive_field=min_receptive_field,
                               max_train_memory=max_train_memory)
    from .spec.factory import parse_kwargs
    result = lint_paths(specs, options, parse_input(input_shape), dtype, config, kwargs=parse_kwargs(kwargs_json))
    module = {"text": "lint_text", "json": "lint_json", "markdown": "lint_markdown"}.get(fmt, fmt)
    rendered = importlib.import_module(f".render.{module}", __package__).render(result)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(rendered)
    else:
        click.echo(rendered, nl=False)
    if fmt != "github":  # github: the errors are annotations already
        for fr in result.errors:
            click.echo(f"error: {fr.error}", err=True)
    sys.exit(result.exit_code(fail_on))


@main.command()
@click.argument("code", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="json fields: code, name, severity, summary, why, example, fix; markdown: docs/rules.md.")
def rules(code, fmt):
    """Explain the lint rules: all of them, one CODE, or a prefix such as CS2."""
    from .errors import SpecError
    from .lint import docs
    from .lint.registry import lookup, rules as all_rules

    if fmt == "markdown":
        click.echo(docs.markdown(), nl=False)
        return
    selected = lookup(code) if code else list(all_rules().values())
    if not selected:
        from .spec.network import suggest
        raise SpecError(f"no rule '{code}'{suggest(code.upper(), all_rules())} (see `convshape rules`)")
    one = code is not None and len(selected) == 1 and selected[0].code == code.upper()
    if fmt == "json":
        click.echo(docs.to_json(selected, one), nl=False)
    elif one:
        click.echo(docs.rule_text(selected[0]), nl=False)
    else:
        click.echo(docs.listing_text(selected), nl=False)


def _require_torch(what: str):
    try:
        import torch  # noqa: F401
    except ImportError:
        from .errors import SpecError
        raise SpecError(f"{what} needs PyTorch: pip install 'convshape[torch]'") from None


@main.command()
@click.argument("spec")
@input_option
@kwargs_option
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the real run and the receptive-field probe execute (FLOPs use the meta device).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--rf-layers", default="8", show_default=True, metavar="N|all",
              help="How many layers the receptive-field probe measures (0: none).")
@click.option("--no-real", is_flag=True, help="Skip the real run (shapes are still checked on the meta device).")
@click.option("--no-sizes", is_flag=True, help="Skip the symbolic rules at sampled input sizes.")
def check(spec, input_shape, kwargs_json, device, fmt, rf_layers, no_real, no_sizes):
    """Compare every layer's predictions with the live torch module.

    Output shapes (meta device and a real run), params, buffers, forward and backward FLOPs
    (torch.utils.flop_counter, with an independent count where it is known wrong), receptive
    fields (dependency probe), and the symbolic rules at sampled sizes. Exit 1 on any mismatch.
    """
    _require_torch("check")
    from .errors import SpecError
    from .torch.check import check as run_check
    from .torch import render

    if rf_layers != "all" and not rf_layers.isdigit():
        raise SpecError(f"--rf-layers {rf_layers!r}: expected a number or 'all'")
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise SpecError("--device cuda: no CUDA device is available")
    from .constraints import size_hints

    network, shape = load_spec(spec, input_shape, kwargs_json)
    with size_hints(network, shape):
        result = run_check(network, shape, device=device, real=not no_real,
                           rf_layers=rf_layers if rf_layers == "all" else int(rf_layers), sizes=not no_sizes)
    if fmt == "json":
        click.echo(render.render_json(result))
    else:
        render.render_table(result)
    sys.exit(0 if result.ok else 1)


@main.command()
@click.argument("spec")
@click.option("--input", "input_shape", metavar="SHAPE",
              help="Which dims are free, e.g. N,3,H,W or 1,3,H,224; a concrete shape is checked against the "
                   "rules. Default: the spec's input with its spatial dims free.")
@click.option("--range", "ranges", multiple=True, metavar="[DIM=]LO:HI",
              help="Sizes to enumerate per free dim (repeatable; a bare LO:HI applies to all). Default 1:1024.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@kwargs_option
def constraints(spec, input_shape, ranges, fmt, kwargs_json):
    """For which input sizes does the network work? Rules per dim, with the layers that cause them.

    Minimum sizes and divisibility are proved for every size where the layers' arithmetic allows it
    (closed form), and otherwise enumerated exactly over the range. Exit 0 when some size in the
    range works, 1 when none does (or a concrete --input breaks a rule), 2 for a bad spec or usage.
    """
    from .constraints import derive, free_input, parse_ranges

    network, shape = load_spec(spec, input_shape, kwargs_json)
    names = [d for d in free_input(network, shape) if isinstance(d, str)]
    result = derive(network, shape, parse_ranges(ranges, names))
    if fmt == "json":
        from .render import constraints_json as r
    else:
        from .render import constraints_text as r
    click.echo(r.render(result), nl=False)
    sys.exit(0 if result.valid_somewhere and not result.given_violations else 1)


@main.command("import")
@click.argument("factory", metavar="PKG.MODULE:FACTORY")
@click.option("--kwargs", "kwargs_json", default="{}", show_default=True, metavar="JSON",
              help='Keyword arguments for the factory, e.g. \'{"num_classes": 10}\'.')
@input_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the spec here (default: standard output).")
@click.option("--name", default=None, help="The spec's name (default: the module's class name).")
def import_(factory, kwargs_json, input_shape, output, name):
    """Trace an nn.Module (torch.fx, eager fallback) and write it as a YAML spec.

    FACTORY is called with --kwargs to make the module, e.g. torchvision.models:resnet50.
    A module with several inputs takes --input "left=1,3,32,32;right=1,3,32,32" (forward's names).
    Repeated submodules become block definitions. Operations convshape cannot map are listed
    with their source locations (exit 2); nothing is dropped silently.
    """
    _require_torch("import")
    from .errors import SpecError
    from .spec.factory import make_module, parse_kwargs
    from .torch.importer import from_torch
    from .torch.spec_writer import to_yaml

    if input_shape is None:
        raise SpecError("import needs --input, e.g. --input 1,3,224,224")
    if "=" in input_shape:  # several inputs: --input "left=1,3,32,32;right=1,3,32,32"
        parts = [p.partition("=") for p in input_shape.split(";") if p.strip()]
        if not all(n.strip().isidentifier() and eq for n, eq, _ in parts):
            raise SpecError(f"--input {input_shape!r}: several inputs are written name=SHAPE;name=SHAPE")
        shape = {n.strip(): parse_input(v) for n, _, v in parts}
    else:
        shape = parse_input(input_shape)
    if not all(isinstance(d, int) for s in (shape.values() if isinstance(shape, dict) else [shape]) for d in s):
        raise SpecError(f"--input {input_shape!r}: import traces the module, so every size must be a number")
    kwargs = parse_kwargs(kwargs_json)
    module = make_module(factory, kwargs)
    network = from_torch(module, shape, name=name)
    header = f"# imported by `convshape import {factory}`" + (f" --kwargs '{kwargs_json}'" if kwargs else "") + \
        f" --input {input_shape}\n"
    text = to_yaml(network, header=header)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {output}: {len(network.nodes)} layers", err=True)
    else:
        click.echo(text, nl=False)


@main.command("run")
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@input_option
@kwargs_option
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="Element type of weights and activations on both paths (float64: the tightest check).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random input and weights.")
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Replace the batch dim (dim 0) of each input.")
@click.option("--repeats", type=click.IntRange(min=0), default=None,
              help="Timed passes, median per layer taken; 0 checks without timing [default: 20 cuda, 3 cpu].")
@click.option("--warmup", type=click.IntRange(min=0), default=None, help="Untimed passes first [default: 3 cuda, 1 cpu].")
@click.option("--channels-last", is_flag=True, help="4-D input and convolution weights in channels-last layout.")
@click.option("--time-reference", is_flag=True, help="Also time the reference kernels layer by layer.")
@click.option("--sweep", "sweeps", multiple=True, metavar="DIM=START:STOP[:STEP]",
              help="Confirm shapes only, at every size of the grid (meta device), e.g. H=64:512:32; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def run_command(specs, input_shape, kwargs_json, device, dtype, seed, batch, repeats, warmup, channels_last, time_reference,
                sweeps, fmt):
    """Run SPEC with convshape's reference kernels beside torch.nn and confirm every prediction.

    Per layer: observed shape == predicted, reference within the dtype's tolerance of torch,
    median time, TFLOP/s from the predicted FLOPs, and efficiency against the roofline of the
    calibrated device (see `convshape calibrate`). Exit 1 if any layer (or sweep point) is unconfirmed.
    """
    _require_torch("run")
    import json

    from .executor import render

    calibration = None
    if not sweeps:   # the roofline's figures: measured once per device, then cached
        from .executor.calibrate import cache_path, calibration_for
        from .executor.runner import resolve_device
        calibration, fresh = calibration_for(resolve_device(device), dtype)
        if fresh:
            click.echo(f"calibrated {calibration.device_name} (cached in {cache_path()})", err=True)
    reports = []
    for spec in specs:
        network, shape = load_spec(spec, input_shape, kwargs_json)
        shape = shape or network.input_shape
        if batch is not None:
            shape = (batch,) + tuple(shape[1:])
        with render.ProgressDisplay(network.name) as progress:
            if sweeps:
                from .executor.sweep import parse_sweep, sweep
                axes = dict(parse_sweep(s) for s in sweeps)
                reports.append(sweep(network, axes, shape, progress=progress))
            else:
                from .constraints import size_hints
                from .executor import run
                with size_hints(network, shape):
                    reports.append(run(network, shape, device=device, dtype=dtype, seed=seed, repeats=repeats,
                                       warmup=warmup, channels_last=channels_last, time_reference=time_reference,
                                       calibration=calibration, progress=progress))
    if fmt == "json":
        data = [r.to_dict() for r in reports]
        click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2))
    else:
        for r in reports:
            (render.render_sweep_table if sweeps else render.render_table)(r)
    sys.exit(0 if all(r.all_confirmed for r in reports) else 1)


@main.command()
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--dtype", "dtypes", multiple=True, type=click.Choice(DTYPES),
              help="Measure only these matmul dtypes (repeatable) [default: all four].")
@click.option("--show", is_flag=True, help="Print the cached figures without measuring.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def calibrate(device, dtypes, show, fmt):
    """Measure the device's peak matmul rate per dtype and its copy bandwidth, and cache them.

    `convshape run` draws its roofline from these figures (measured on first use when missing).
    The cache is $CONVSHAPE_CACHE_DIR/calibration.json, else the user cache dir (~/.cache/convshape).
    """
    _require_torch("calibrate")
    import json

    from .errors import SpecError
    from .executor import calibrate as cal
    from .executor import render
    from .executor.runner import resolve_device

    dev = resolve_device(device)
    if show:
        result, path = cal.load(dev), cal.cache_path()
        if result is None:
            raise SpecError(f"no calibration cached for {device} in {path}: run `convshape calibrate --device {device}`")
    else:
        result, path = cal.recalibrate(dev, dtypes or cal.DTYPES)
    if fmt == "json":
        click.echo(json.dumps({**result.to_dict(), "cache": str(path)}, indent=2))
    else:
        render.render_calibration(result, path)


if __name__ == "__main__":
    main()
