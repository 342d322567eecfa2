"""Derive the input sizes a network accepts, from the conditions its layers record symbolically.

1. The free input dims become symbols (the spatial dims by default: H, W). Arguments that the
   declared input fixes (in_features after Flatten, ...) are written into the layers first, as a
   module built for the declared input would have them.
2. Symbolic analysis records every validity condition (window fits, merge equalities, written
   sizes). Conditions on one symbol are evaluated exactly, by a compiled integer evaluator, for
   every size in the range; conditions tying symbols together are evaluated jointly.
3. Where every condition is quasi-linear (quasilinear.py), the verdicts are provably periodic
   beyond a computed size; the search is extended past it and the rule is stated for every size.
   Otherwise the rule describes the enumerated range only, and says so.
"""
from __future__ import annotations

import dataclasses
from math import gcd

import sympy as sp

from ..analysis import analyze
from ..errors import ShapeError, SizeDependentError, SpecError
from .compile import Unsupported, compile_conditions, compile_values
from .explain import (Explainer, describe_group, failure_phrase, join_words, merge_phrase,
                      show)
from .model import (SPATIAL_NAMES, Constraints, DimRule, JointRule, Reason, Violation, intervals, intervals_text,
                    spatial_rank)
from .quasilinear import truth_pattern
from .simplify import recognize

DEFAULT_RANGE = (1, 1024)
MAX_SEARCH = 200_000      # sizes evaluated per dim when extending the search for a proof
MAX_JOINT = 4_000_000     # joint combinations evaluated before giving up on completeness


def free_input(network, input_shape=None) -> tuple:
    """The input shape with symbol names for its free dims (the given names, or H/W/... for spatial)."""
    shape = tuple(input_shape) if input_shape is not None else tuple(network.input_shape)
    if any(isinstance(d, str) for d in shape):
        return shape
    n = spatial_rank(network, len(shape))
    names = SPATIAL_NAMES.get(n) or tuple(f"S{i + 1}" for i in range(n))
    return shape[:len(shape) - n] + names


def with_declared_arguments(network):
    """A copy of the network whose input-derived arguments (in_features, ...) are written in,
    as for a module built at the declared input; the network itself when that input is symbolic
    or invalid."""
    if not all(isinstance(d, int) for d in network.input_shape):
        return network
    try:
        report = analyze(network)
    except ShapeError:
        return network
    nodes = []
    changed = False
    for node, r in zip(network.nodes, report.layers):
        update = {k: v for k, v in (r.inferred or {}).items()
                  if getattr(node.layer, k, 0) is None and isinstance(v, int)}
        if update:
            changed = True
            node = dataclasses.replace(node, layer=node.layer.model_copy(update=update))
        nodes.append(node)
    if not changed:
        return network
    return dataclasses.replace(network, nodes=nodes)  # every other field (outputs, inputs, ...) kept


def parse_ranges(items, names) -> dict:
    """['H=1:512', '16:64'] -> {'H': (1, 512), 'W': (16, 64)}; a bare range applies to every name."""
    out = {}
    for item in items or ():
        name, _, span = item.rpartition("=")
        lo, sep, hi = span.partition(":")
        try:
            lo, hi = int(lo), int(hi)
        except ValueError:
            raise SpecError(f"range {item!r} must look like H=1:1024 (or 1:1024 for every dim)") from None
        if not sep or lo < 1 or hi < lo:
            raise SpecError(f"range {item!r} must be LO:HI with 1 <= LO <= HI")
        targets = [name] if name else list(names)
        for t in targets:
            if t not in names:
                raise SpecError(f"range {item!r} names {t!r}, which is not a free input dim "
                                f"(free dims: {', '.join(names) or 'none'})")
            out[t] = (lo, hi)
    return out


def derive(network, input_shape=None, ranges=None) -> Constraints:
    """Closed-form (or enumerated) rules for which sizes of the free input dims the network accepts."""
    shape = free_input(network, input_shape)
    declared = tuple(network.input_shape) if all(isinstance(d, int) for d in network.input_shape) else None
    given = tuple(input_shape) if input_shape is not None else declared
    if given is not None and not all(isinstance(d, int) for d in given):
        given = None
    built = with_declared_arguments(network)
    prepared, size_dependent = _relax_size_dependent(built, shape)
    try:
        report = analyze(prepared, shape)
    except ShapeError as e:  # a contradiction for every size (e.g. H - 2 == H at a concat)
        return _impossible(built, shape, declared, given, e, ranges)
    if size_dependent:  # the placeholder's own equality is no rule: torch infers the argument per size
        placeholders = {(n, a) for n, a, _ in size_dependent}
        report.conditions = [c for c in report.conditions if (c.layer, c.argument) not in placeholders]
        for r in report.layers:
            r.conditions = [c for c in r.conditions if (c.layer, c.argument) not in placeholders]
    symbols = [d for d in report.input_shape if not isinstance(d, int)]
    names = [s.name for s in symbols]
    ranges = dict(ranges or {})
    for n in names:
        ranges.setdefault(n, DEFAULT_RANGE)
    explainer = Explainer(prepared, report)

    single = {s: [] for s in symbols}
    multi = []
    for c in report.conditions:
        fs = c.expr.free_symbols
        if len(fs) == 1 and next(iter(fs)) in single:
            single[next(iter(fs))].append(c)
        else:
            multi.append(c)

    notes = []
    dims = []
    seen = set()
    for axis, d in enumerate(report.input_shape):
        if isinstance(d, int) or d in seen:
            continue  # a symbol written twice (N,3,S,S) is one free dim
        seen.add(d)
        dims.append(_dim_rule(d, axis, single[d], ranges[d.name], explainer, notes))
    joint = [_joint_rule(group, syms, dims, ranges, explainer) for syms, group in _components(multi)]
    conditions = list(report.conditions)  # rendered only by to_dict: printing sympy is slow
    notes.extend(f"{layer}: {argument} depends on the input size ({value}), so the parameter count does too; "
                 f"write {argument} to build the layer for one size" for layer, argument, value in size_dependent)
    notes.extend(_training_note(prepared, report, symbols, dims, joint))
    result = Constraints(network=network.name, input_shape=shape, declared=declared, dims=dims, joint=joint,
                         conditions=conditions, output_shape=report.output_shape, notes=notes, given=given)
    result.report, result.network_used = report, prepared  # for coverage (lint CS502); not serialized
    if given is not None:
        values = {d: g for d, g in zip(shape, given) if isinstance(d, str)}
        result.given_violations = result.violations(values)
    return result


def _relax_size_dependent(network, shape):
    """Layers whose parameter count depends on a free dim (in_features after a Flatten, inferred) get
    a placeholder value, so the rest of the network is still analyzed symbolically; the placeholder's
    equality condition is dropped afterwards. Returns (network, [(layer, argument, expression)])."""
    relaxed = []
    for _ in range(len(network.nodes)):
        try:
            analyze(network, shape)
            break
        except SizeDependentError as e:
            if e.layer is None or e.argument in (None, "input") or e.layer in {r[0] for r in relaxed}:
                break
            relaxed.append((e.layer, e.argument, e.value))
            nodes = [dataclasses.replace(n, layer=n.layer.model_copy(update={e.argument: 1}))
                     if n.name == e.layer else n for n in network.nodes]
            network = type(network)(name=network.name, input_shape=network.input_shape, nodes=nodes,
                                    file=network.file, source=network.source, lint_config=network.lint_config,
                                    description=network.description)
        except ShapeError:
            break
    return network, relaxed


def _training_note(network, report, symbols, dims, joint) -> list:
    """BatchNorm with running statistics accepts one value per channel in eval mode only: say from
    which square size training works too (torch: "Expected more than 1 value per channel")."""
    norms = [r for n, r in zip(network.nodes, report.layers) if n.layer.kind.startswith("BatchNorm")
             and getattr(n.layer, "track_running_stats", False)]
    if not norms or not symbols:
        return []
    counts = []
    for r in norms:
        shape = r.output_shape
        count = shape[0]
        for d in shape[2:]:
            count = count * d
        counts.append(count)
    if any(not s.is_positive for s in symbols) or any(
            getattr(c, "free_symbols", set()) - set(symbols) for c in counts):
        return []
    text = ("sizes are for inference (eval mode: BatchNorm uses its running statistics); in training "
            "mode every BatchNorm also needs more than one value per channel (batch × spatial size > 1)")
    try:
        f = compile_values(counts, symbols)
    except Unsupported:
        return [text]
    for x in range(1, DEFAULT_RANGE[1] + 1):
        values = {s.name: x for s in symbols}
        if all(d.is_valid(x) for d in dims) and all(j.is_valid(values) for j in joint) \
                and all(v >= 2 for v in f(*[x] * len(symbols))):
            return [text + f"; with the batch as declared and every free dim equal, the smallest such size is {x}"]
    return [text]


def _impossible(network, shape, declared, given, error, ranges) -> Constraints:
    """No size works: every free dim gets an empty rule whose reason is the analysis error.

    The symbolic error is a proof only when it is a contradiction; a size that works at concrete
    sizes (tried: 1..64 and powers of two to 1024, every free dim equal) turns it into "not derived".
    """
    where = f"{error.layer}: " if error.layer else ""
    witness = _concrete_witness(network, shape)
    if witness is not None:
        return _underived(network, shape, declared, given, error, ranges, witness)
    reason = Reason(f"{where}{error.message} (for every size)", layers=[error.layer] if error.layer else [])
    dims = []
    seen = set()
    for axis, d in enumerate(shape):
        if isinstance(d, int) or d in seen:
            continue
        seen.add(d)
        lo, hi = (ranges or {}).get(d, DEFAULT_RANGE)
        dims.append(DimRule(symbol=d, axis=axis, range=(lo, hi), valid=[], minimum=None, modulus=1, residues=(),
                            proved=True, method="closed form", searched=(1, 0),
                            statement=f"no size of {d} works", reasons=[reason]))
    result = Constraints(network=network.name, input_shape=shape, declared=declared, dims=dims, joint=[],
                         conditions=[], notes=[], given=given)
    if given is not None:
        result.given_violations = [Violation(None, "this input", "no input size works", [reason])]
    return result


WITNESS_SIZES = tuple(range(1, 65)) + (96, 128, 192, 224, 256, 384, 512, 768, 1024)


def _concrete_witness(network, shape):
    """A size (every free dim equal) at which concrete analysis succeeds, or None."""
    for x in WITNESS_SIZES:
        try:
            analyze(network, tuple(x if isinstance(d, str) else d for d in shape))
            return x
        except ShapeError:
            continue
    return None


def _underived(network, shape, declared, given, error, ranges, witness) -> Constraints:
    """Symbolic analysis failed but a concrete size works: say so, claim nothing for every size."""
    where = f"{error.layer}: " if error.layer else ""
    reason = Reason(f"{where}{error.message}; the rules cannot be derived symbolically",
                    layers=[error.layer] if error.layer else [])
    dims, seen = [], set()
    for axis, d in enumerate(shape):
        if isinstance(d, int) or d in seen:
            continue
        seen.add(d)
        lo, hi = (ranges or {}).get(d, DEFAULT_RANGE)
        dims.append(DimRule(symbol=d, axis=axis, range=(lo, hi), valid=[witness] if lo <= witness <= hi else [],
                            minimum=witness, modulus=1, residues=(), proved=False, method="not derived", searched=(1, 0),
                            statement=f"not derived (the network works at {d}={witness} with every free dim "
                                      f"equal, but the symbolic analysis failed)", reasons=[reason]))
    result = Constraints(network=network.name, input_shape=shape, declared=declared, dims=dims, joint=[],
                         conditions=[], notes=[], given=given)
    return result


def size_violations(network, input_shape=None) -> list:
    """The size rules a concrete input breaks, each with the nearest valid sizes ([] if none does).

    For error messages: it never raises, so a failure here cannot hide the original error.
    """
    shape = tuple(input_shape) if input_shape is not None else tuple(network.input_shape)
    if not shape or not all(isinstance(d, int) for d in shape):
        return []
    try:
        hi = max(DEFAULT_RANGE[1], 2 * max(shape))
        names = [d for d in free_input(network, shape) if isinstance(d, str)]
        return derive(network, shape, {n: (1, hi) for n in names}).given_violations
    except Exception:  # noqa: BLE001 - a hint must never replace the real error
        return []


# ------------------------------------------------------------------------------ one dim
def _evaluator(conds, s, notes):
    exprs = [c.expr for c in conds]
    try:
        return compile_conditions(exprs, [s])
    except Unsupported as e:
        notes.append(f"{s}: exact evaluation through sympy substitution (slower): {e}")
        return lambda x: tuple(bool(c.subs(s, x)) for c in exprs)


def _dim_rule(s, axis, conds, rng, explainer, notes) -> DimRule:
    lo, hi = rng
    patterns = [truth_pattern(c.expr, s) for c in conds]
    proof = None
    if all(p is not None for p in patterns):
        start, period = 1, 1
        for p in patterns:
            start, period = max(start, p.start), period // gcd(period, p.period) * p.period
        if start + 2 * period <= MAX_SEARCH:
            proof = (start, period)
    last = max(hi, proof[0] + 2 * proof[1]) if proof else hi
    f = _evaluator(conds, s, notes)
    verdicts, fails = [], {}
    for x in range(1, last + 1):
        t = f(x)
        ok = all(t)
        verdicts.append(ok)
        if not ok:
            fails[x] = tuple(i for i, v in enumerate(t) if not v)
    rec = recognize(verdicts, 1, period_hint=proof[1], settled_from=proof[0]) if proof else None
    proved = rec is not None
    if rec is None:
        rec = recognize(verdicts, 1)
    table = {x: v for x, v in enumerate(verdicts, start=1)}
    valid_in_range = [x for x in range(lo, hi + 1) if table[x]]
    all_valid = [x for x, v in table.items() if v]
    rule = DimRule(symbol=s.name, axis=axis, range=(lo, hi), valid=valid_in_range,
                   minimum=all_valid[0] if all_valid else None, proved=proved,
                   method="closed form" if proved else "enumeration", searched=(1, last), _table=table)
    if rec is not None:
        rule.modulus, rule.residues, rule.periodic_from, rule.exceptions = (
            rec.modulus, rec.residues, rec.start, rec.exceptions)
    else:
        rule.modulus, rule.residues, rule.periodic_from, rule.exceptions = 1, (), None, all_valid
    rule.statement = _statement(rule, rec is not None)
    rule.reasons = _reasons(rule, s, conds, fails, explainer, last)
    return rule


def _statement(rule: DimRule, recognized: bool) -> str:
    s = rule.symbol
    lo, hi = rule.range
    if rule.minimum is None:
        return f"no size of {s} works (searched 1..{rule.searched[1]})"
    if not recognized:
        return f"{s} must be one of {intervals_text(rule.valid)} (in {lo}..{hi})"
    q, res, start = rule.modulus, rule.residues, rule.periodic_from
    if start is None:
        runs = intervals(rule.exceptions)
        if len(runs) == 1:
            a, b = runs[0]
            return f"{s} must be {a}" if a == b else f"{s} must be between {a} and {b}"
        return f"{s} must be one of {intervals_text(rule.exceptions)}"
    if q == 1:
        text = f"any {s} works" if start == 1 else f"{s} must be at least {start}"
    else:
        if res == (0,):
            text = f"{s} must be even" if q == 2 else f"{s} must be a multiple of {q}"
        elif q == 2 and res == (1,):
            text = f"{s} must be odd"
        else:
            forms = [f"{q}k" if r == 0 else f"{q}k + {r}" for r in res]
            text = f"{s} must be {' or '.join(forms)} for a whole k"
        if start > 1:
            text += f"{',' if text.endswith('whole k') else ''} and at least {start}"
    if rule.exceptions:
        text += f", or {rule.exceptions[0]}" if len(rule.exceptions) == 1 else \
            f", or one of {intervals_text(rule.exceptions)}"
    return text


def _reasons(rule, s, conds, fails, explainer, last) -> list:
    if not conds:
        return []
    q, res, start = rule.modulus, rule.residues, rule.periodic_from
    failing_at = {}  # condition index -> sizes where it fails
    for x, idx in fails.items():
        for i in idx:
            failing_at.setdefault(i, []).append(x)
    reasons = []
    if rule.minimum is None:
        always = [i for i, xs in failing_at.items() if len(xs) == last]
        picked = [conds[i] for i in (always or sorted(failing_at))]
        return [_message_reason(picked)]
    tail_from = start if start is not None else last + 1
    if start is None:
        tail_from = (rule.exceptions[-1] + 1) if rule.exceptions else 1
    tail = sorted(i for i, xs in failing_at.items() if xs[-1] >= tail_from)
    if tail and (q > 1 or start is None):
        reasons.extend(_tail_reasons([conds[i] for i in tail], s, explainer))
    broadcasting = [c for c in conds if isinstance(c.expr, sp.Or) and explainer.is_merge(c.layer)]
    if rule.exceptions and start is not None and broadcasting:
        reasons.append(Reason(f"{s} = {intervals_text(rule.exceptions)} also work{'s' if len(rule.exceptions) == 1 else ''}"
                              f": there an input of {merge_phrase(_layers(broadcasting), explainer.network)} has "
                              f"size 1 and broadcasts, which torch allows",
                              layers=_layers(broadcasting), conditions=[show(c.expr) for c in broadcasting]))
    if start is not None and start > 1:
        below = [x for x in range(start - 1, 0, -1) if x % q in res and x not in rule.exceptions]
        if below:
            x = below[0]
            failing = [conds[i] for i in fails.get(x, ())]
            if failing:
                # the earliest failing layer is the cause; the layers after it fail because of it
                index = explainer.network.index
                first = min(failing, key=lambda c: index[c.layer]).layer
                culprits = [c for c in failing if c.layer == first]
                later = len(_layers(failing)) - 1
                text = f"for {s} = {x}, {failure_phrase(culprits)}"
                if later:
                    text += f" (and {later} later {'layer' if later == 1 else 'layers'} after it)"
                reasons.append(Reason(text, layers=_layers(culprits), conditions=[show(c.expr) for c in culprits]))
    return reasons


def _layers(conds) -> list:
    return list(dict.fromkeys(c.layer for c in conds))


def _tail_reasons(conds, s, explainer) -> list:
    """Why sizes beyond the minimum fail: merges whose paths resample differently, or other layers."""
    merges = [c for c in conds if explainer.is_merge(c.layer)]
    others = [c for c in conds if c not in merges]
    out = []
    if merges:
        names = _layers(merges)
        exclusive = []
        for m in names:
            exclusive.extend(explainer.exclusive_nodes(m))
        order = {n.name: i for i, n in enumerate(explainer.network.nodes)}
        exclusive = sorted(set(exclusive), key=order.get)
        downs, ups = explainer.resamplers(exclusive, s)
        where = merge_phrase(names, explainer.network)
        if downs and ups:
            text = (f"{describe_group(downs, explainer.network, True, 'count')} must be undone exactly by "
                    f"{describe_group(ups, explainer.network, False, 'the')} before {where}")
        elif downs or ups:
            text = (f"the paths into {where} are resampled differently "
                    f"({join_words([describe_group(downs, explainer.network, True, 'count')] if downs else [])}"
                    f"{describe_group(ups, explainer.network, False, 'count') if ups else ''}), and their sizes "
                    f"agree only for these {s}")
        else:
            text = f"the inputs of {where} must have equal sizes along {s}"
            if any(isinstance(c.expr, sp.Or) for c in merges):
                text += " (or one of them size 1, which broadcasts)"
        layers = [n for n, _ in downs] + [n for n, _ in ups] + names
        out.append(Reason(text, layers=layers, conditions=[show(c.expr) for c in merges]))
    if others:
        out.append(_message_reason(others))
    return out


def _message_reason(conds) -> Reason:
    """The layers' own messages, one per layer."""
    parts = []
    for layer in _layers(conds):
        first = next(c for c in conds if c.layer == layer)
        parts.append(f"{layer}: {first.message}")
    return Reason("; ".join(parts), layers=_layers(conds), conditions=[show(c.expr) for c in conds])


# ------------------------------------------------------------------------------ joint rules
def _components(conds):
    """Group conditions whose symbol sets overlap: [(symbols, conditions), ...]."""
    groups: list = []
    for c in conds:
        syms = set(c.expr.free_symbols)
        merged = [g for g in groups if g[0] & syms]
        for g in merged:
            groups.remove(g)
            syms |= g[0]
        members = [c] + [x for g in merged for x in g[1]]
        groups.append((syms, members))
    return [(tuple(sorted(g[0], key=lambda s: s.name)), g[1]) for g in groups]


def _features(expr, s, out):
    """Maximal sub-expressions that depend on `s` alone: the joint verdict depends on s only through them."""
    fs = expr.free_symbols
    if fs == {s}:
        out.append(expr)
        return
    for a in expr.args:
        if s in a.free_symbols:
            _features(a, s, out)


def _written_reason(c, explainer) -> str:
    """'linear_1 is built for in_features=2450' when a written argument causes the rule."""
    value = getattr(explainer.network.node(c.layer).layer, c.argument or "", None)
    if isinstance(value, (int, tuple)) and not isinstance(value, bool) and not explainer.is_merge(c.layer):
        return f"{c.layer} is built for {c.argument}={value}"
    return f"{c.layer}: {c.message}"


def _joint_rule(conds, syms, dims, ranges, explainer) -> JointRule:
    by_name = {d.symbol: d for d in dims}
    exprs = [c.expr for c in conds]
    check_all = compile_conditions(exprs, list(syms))
    check = lambda *xs: all(check_all(*xs))  # noqa: E731
    # Sizes of each symbol, grouped into classes that the joint conditions cannot tell apart
    classes = []
    total = 1
    for s in syms:
        dim = by_name.get(s.name)
        lo, hi = ranges.get(s.name, DEFAULT_RANGE)
        sizes = dim.valid if dim is not None else list(range(lo, hi + 1))
        feats: list = []
        for e in exprs:
            _features(e, s, feats)
        feats = list(dict.fromkeys(feats))
        key_of = compile_values(feats, [s]) if feats else (lambda x: ())
        groups: dict = {}
        for x in sizes:
            groups.setdefault(key_of(x), []).append(x)
        classes.append(list(groups.values()))
        total *= max(len(groups), 1)
    names = tuple(s.name for s in syms)
    statement = (f"{' and '.join(names)} together must satisfy "
                 + " and ".join(dict.fromkeys(show(c.expr) for c in conds)))
    reasons = [Reason(_written_reason(c, explainer), layers=[c.layer], conditions=[show(c.expr)]) for c in conds]
    if total > MAX_JOINT:
        return JointRule(names, statement, reasons, blocks=[], complete=False, _check=check)
    valid_combos = []
    _walk(classes, 0, [], check, valid_combos)
    # merge along the first symbol: combos that agree on the others share one block
    merged: dict = {}
    for combo in valid_combos:
        key = tuple(id(c) for c in combo[1:])
        if key in merged:
            merged[key][0].extend(combo[0])
        else:
            merged[key] = [list(combo[0])] + list(combo[1:])
    blocks = [{n: intervals(sorted(members)) for n, members in zip(names, combo)} for combo in merged.values()]
    return JointRule(names, statement, reasons, blocks=blocks, _check=check)


def _walk(classes, k, chosen, check, out):
    if k == len(classes):
        if check(*[c[0] for c in chosen]):
            out.append(list(chosen))
        return
    for c in classes[k]:
        chosen.append(c)
        _walk(classes, k + 1, chosen, check, out)
        chosen.pop()
