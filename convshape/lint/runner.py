"""Run the rules over one network, or over many spec files and globs."""
from __future__ import annotations

import fnmatch
import glob
from dataclasses import replace
from pathlib import Path

from ..analysis import analyze
from ..errors import SpecError
from ..spec.source import format_path
from .config import Options, matches_any, project_settings, find_pyproject, resolve, spec_settings
from .context import Context
from .registry import rules
from .result import FileResult, LintResult


def check_network(network, selection, budgets, input_shape=None, dtype: str = "float32"):
    """(findings, report) for one loaded Network: every rule runs (the catch-all error rule sees
    whether a specific one explained the failure); then selection and `noqa` filter them."""
    _check_noqa(network)
    report = analyze(network, input_shape, dtype=dtype, on_error="stop")
    ctx = Context(network, report, budgets)
    ordered = sorted(rules().values(), key=lambda r: (r.runs_last, r.code))
    for rule in ordered:
        for f in rule.check(ctx):
            ctx.findings.append(replace(f, code=rule.code, name=rule.name, severity=rule.severity))
    noqa = {n.name: n.noqa for n in network.nodes if n.noqa}
    kept = [f for f in ctx.findings if selection.enabled(f.code)
            and not (f.layer in noqa and matches_any(f.code, noqa[f.layer]))]
    kept.sort(key=lambda f: (f.line or 0, f.column or 0, f.code))
    return kept, report


def _check_noqa(network):
    known = rules()
    for node in network.nodes:
        for code in node.noqa:
            sel = code.strip().upper()
            if not any(c.startswith(sel) for c in known) and sel != "ALL":
                path = tuple(node.spec_path) + ("noqa",)
                where = network.source.where(path) if network.source else (None, None)
                raise SpecError(f"noqa: '{code}' matches no rule (see `convshape rules`)", file=network.file,
                                line=where[0], column=where[1], field=format_path(path))


def expand(refs) -> list[str]:
    """Files, globs (** included) and zoo:NAME / zoo:PATTERN, in the order given, without repeats.
    A glob that matches nothing is kept as written, so the user hears "file not found"."""
    from ..spec import zoo_names
    out: list = []
    for ref in refs:
        if ref.startswith("zoo:"):
            names = [n for n in zoo_names() if fnmatch.fnmatchcase(n, ref[4:])] if glob.has_magic(ref) else []
            found = ["zoo:" + n for n in names] or [ref]
        elif glob.has_magic(ref):
            found = sorted(glob.glob(ref, recursive=True)) or [ref]
        else:
            found = [ref]
        out += [f for f in found if f not in out]
    return out


def lint_paths(refs, options: Options | None = None, input_shape=None, dtype: str = "float32",
               config: str | Path | None | bool = None, kwargs: dict | None = None) -> LintResult:
    """Lint many specs. A file that cannot be read or parsed is recorded with its SpecError and the
    others are still linted (the exit code is then 2). config: a pyproject.toml, None to find the
    nearest one with [tool.convshape] from the working directory up, False to read none. A ref
    `package.module:factory` is torch code: called with `kwargs`, traced at `input_shape`."""
    from ..spec import load
    from ..spec.factory import is_factory_ref, load_factory
    options = options or Options()
    project, root = None, None
    path = Path(config) if config else (find_pyproject() if config is None else None)
    if path is not None:
        project, root = project_settings(path)
    result = LintResult()
    for ref in expand(refs):
        fr = FileResult(file=ref)
        try:
            # torch code (PKG.MODULE:FACTORY, called with kwargs) is traced at the input shape
            fr.network = load_factory(ref, input_shape, kwargs) if is_factory_ref(ref) else load(ref)
            fr.findings, fr.report = _lint_one(fr.network, options, project, root, input_shape, dtype)
        except SpecError as e:
            fr.error = e
        result.files.append(fr)
    return result


def lint(spec, *, input_shape=None, dtype: str = "float32", select=None, ignore=(), **budgets) -> list:
    """Lint one spec (a path, `zoo:NAME` or a loaded Network) and return its findings.

    Budgets are keyword arguments: max_params, max_macs, max_activation_bytes, min_receptive_field,
    max_train_memory.
    The spec's own lint: section applies; pyproject.toml is not read (use lint_paths for that).
    """
    from ..graph import Network
    from ..spec import load
    network = spec if isinstance(spec, Network) else load(spec)
    options = Options(select=list(select) if select else None, ignore=list(ignore), **budgets)
    return _lint_one(network, options, None, None, input_shape, dtype)[0]


def _lint_one(network, options, project, root, input_shape, dtype):
    """The three configuration sources combined for this file, then check_network."""
    from ..spec import check_input_rank
    check_input_rank(network, input_shape)
    spec, where = spec_settings(network)
    selection, budgets = resolve(options, spec, where, project, root, network.file)
    return check_network(network, selection, budgets, input_shape, dtype)
