"""`convshape check`: every prediction of the analysis against the live torch module.

Per layer (node), at the requested input:
- output shape on the meta device, and in a real run on `device` (batch 1);
- parameters (total, trainable) and buffers: numel of the node module's tensors;
- forward and backward FLOPs: torch.utils.flop_counter.FlopCounterMode per module, except where
  that counter is known wrong (flops.KNOWN_COUNTER_ERRORS), where an independent count is used;
- receptive field: the dependency probe (probe.py) for a sample of layers;
- memory (CPU, batch 1): the inference peak against a live-storage tracker and each layer's
  saved-for-backward bytes against saved_tensors_hooks (memtrack.py, docs/memory.md);
then, at sampled sizes (minimal valid, minimal + 1, odd, even, prime, non-square, batch 2, and the
size just below the minimal one), the symbolic report (N and spatial dims free) evaluated there
against torch at that size: output shapes, MACs, and validity (convshape's conditions reject the
size exactly when torch raises).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

import torch

from .. import rf as rfmod
from ..analysis import analyze
from ..dims import substitute
from ..errors import ShapeError
from ..graph import INPUT, Network
from ..layers.base import Window
from ..memory.schedule import read_values
from .build import to_torch
from .flops import isolated_flops, known_error, module_flops, total_flops
from .probe import dependency_surrogate, finite, influence_extent, positive_input, readout

SPATIAL_SYMBOLS = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


@dataclass
class Mismatch:
    layer: str
    kind: str
    metric: str
    input: tuple
    expected: object
    actual: object
    note: str = ""

    def to_dict(self):
        return {"layer": self.layer, "type": self.kind, "metric": self.metric, "input": list(self.input),
                "expected": _json(self.expected), "actual": _json(self.actual), "note": self.note}


@dataclass
class CheckResult:
    network: str
    input_shape: tuple
    device: str
    layers: int = 0
    compared: dict = field(default_factory=dict)   # metric -> number of comparisons
    mismatches: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    sizes: list = field(default_factory=list)       # sampled inputs: (shape, valid)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def count(self, metric: str, n: int = 1):
        self.compared[metric] = self.compared.get(metric, 0) + n

    def to_dict(self) -> dict:
        return {"network": self.network, "input": list(self.input_shape), "device": self.device,
                "ok": self.ok, "layers": self.layers, "compared": dict(self.compared),
                "sizes": [{"input": list(s), "valid": v} for s, v in self.sizes],
                "mismatches": [m.to_dict() for m in self.mismatches], "notes": list(self.notes)}


def _json(x):
    if isinstance(x, tuple):
        return [_json(v) for v in x]
    if isinstance(x, list):
        return [_json(v) for v in x]
    if isinstance(x, Fraction):
        return str(x)
    if isinstance(x, (int, float, str, bool)) or x is None:
        return x
    return str(x)


def check(network: Network | str, input_shape=None, device: str = "cpu", real: bool = True,
          rf_layers: int | str = 8, sizes: bool = True) -> CheckResult:
    """Compare convshape's per-layer predictions with torch; see the module docstring."""
    if isinstance(network, str):
        from ..spec import load
        network = load(network)
    shape = tuple(input_shape) if input_shape is not None else tuple(network.input_shape)
    if not all(type(d) is int for d in shape):
        from ..errors import SpecError
        raise SpecError(f"check needs a concrete input shape, got {list(shape)} (use --input 1,3,224,224)")
    report = analyze(network, shape)
    result = CheckResult(network=network.name, input_shape=shape, device=device, layers=len(report.layers))
    expected = {r.name: r for r in report.layers}
    kinds = {n.name: n.kind for n in network.nodes}

    def compare(name, metric, want, got, at=shape, note=""):
        result.count(metric)
        if want != got:
            result.mismatches.append(Mismatch(name, kinds.get(name, ""), metric, at, want, got, note))

    # ---- meta device: shapes, parameter and buffer counts, FLOPs
    with torch.device("meta"):
        meta = to_torch(network, shape)
    several = bool(network.inputs)  # named inputs: one tensor each (the first at `shape`)
    x = _inputs(network, shape, lambda s: torch.empty(s, device="meta")) if several else \
        torch.empty(shape, device="meta")
    outs = meta.run(x, keep=True)
    seen: set = set()  # parameters of a module called again (shared weights) count at its first call
    for name, r in expected.items():
        compare(name, "output_shape", tuple(r.output_shape), tuple(outs[name].shape))
        mod = meta.node_module(name)
        own = [p for p in mod.parameters() if id(p) not in seen]
        seen.update(id(p) for p in own)
        compare(name, "params", r.params, sum(p.numel() for p in own))
        compare(name, "trainable_params", r.trainable_params, sum(p.numel() for p in own if p.requires_grad))
        compare(name, "buffers", r.buffers, sum(b.numel() for b in mod.buffers()))
    corrected_bwd = 0  # torch's backward total with the known-wrong modules replaced
    unread = set(report.unread)
    for node in network.nodes:
        r = expected[node.name]
        mod = meta.node_module(node.name)
        ins = [outs[i] for i in read_values(node)]  # an unpool reads its pool's indices
        fwd, bwd = isolated_flops(mod, ins)
        compare(node.name, "flops", 2 * r.macs, fwd)
        err = known_error(mod)
        if node.name in unread:
            pass  # no output reads it, so no gradient reaches it: only the network total below tells
        elif err is not None:
            needs = any(t.requires_grad for t in ins)
            independent = err.independent(mod, tuple(outs[node.inputs[0]].shape), needs)
            compare(node.name, "flops_backward", r.flops_backward, independent,
                    note=f"{err.name}: torch counts {bwd}; compared with an independent count")
            if not any(n.startswith(err.name) for n in result.notes):
                result.notes.append(f"{err.name}: {err.explanation}")
            corrected_bwd += independent - bwd
        else:
            compare(node.name, "flops_backward", r.flops_backward, bwd)
    fwd_total, bwd_total = total_flops(meta, x)
    compare("(network)", "flops", report.totals.flops, fwd_total)
    compare("(network)", "flops_backward", report.totals.flops_backward, bwd_total + corrected_bwd)
    compare("(network)", "params", report.totals.params - sum(u["params"] for u in report.unused_params),
            sum(p.numel() for p in meta.parameters()))
    del meta, outs

    # ---- a real run on the device
    if real:
        real_shape = (1,) + shape[1:] if len(shape) >= 3 else shape
        real_report = report if real_shape == shape else analyze(network, real_shape)
        model = to_torch(network, real_shape).to(device)
        with torch.no_grad():
            values = model.run(_inputs(network, real_shape, lambda s: torch.randn(s, device=device)) if several
                               else torch.randn(real_shape, device=device), keep=True)
        for r in real_report.layers:
            compare(r.name, "output_shape(real)", tuple(r.output_shape), tuple(values[r.name].shape), at=real_shape)
        del model, values
        if device == "cpu":
            _check_memory(network, real_report, real_shape, result, compare)

    if rf_layers and len(shape) >= 3:
        _check_receptive_fields(network, report, shape, device, rf_layers, result, compare)
    if sizes and len(shape) >= 3:
        _check_sizes(network, shape, result, compare, kinds)
    return result


def _inputs(network, shape, make) -> dict:
    """One tensor per named input; `shape` replaces the first one's, as in analyze()."""
    return {n: make(tuple(shape) if j == 0 else tuple(s)) for j, (n, s) in enumerate(network.inputs)}


def calls_by_module(model, network) -> dict:
    """module -> the layers that call it, in order (several where layers share weights)."""
    calls: dict = {}
    for n in network.nodes:
        calls.setdefault(model.node_module(n.name), []).append(n.name)
    return calls


def _check_memory(network, report, shape, result, compare):
    """Inference peak (eval, no grad) and saved-for-backward bytes per layer (train mode)."""
    from .memtrack import inference_peak, saved_bytes
    torch.manual_seed(0)
    model = to_torch(network, shape)
    x = tuple(_inputs(network, shape, torch.randn).values()) if network.inputs else torch.randn(shape)
    unknown = set(report.totals.saved_unknown)
    if not unknown:
        # the module built from the graph has none of the imported module's Python holding values
        # (holds) nor its module frames (a caller holding the argument it passed): a plain schedule
        plain = not network.holds and not network.frontend
        peak = report.totals.inference_peak_bytes if plain else \
            analyze(replace(network, holds=None, frontend=""), shape).totals.inference_peak_bytes
        compare("(network)", "inference_peak_bytes", peak, inference_peak(model, x), at=shape)
    model.train()
    try:
        total, per_layer = saved_bytes(model, x, calls_by_module(model, network))
    except Exception as e:  # e.g. batch statistics over one value in train mode at batch 1
        result.notes.append(f"saved_bytes not checked: torch fails in train mode at {list(shape)}: "
                            f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return
    for r in report.layers:
        if r.name not in unknown:
            compare(r.name, "saved_bytes", r.saved_bytes, per_layer.get(r.name, 0), at=shape)
    if unknown:
        result.notes.append(f"memory of {', '.join(sorted(unknown))} not modelled: their saved_bytes and the "
                            f"network's inference_peak_bytes and saved_bytes not compared")
    else:
        compare("(network)", "saved_bytes", report.totals.saved_bytes, total, at=shape)


# ------------------------------------------------------------------ receptive field
def _axis_states(network: Network, report) -> tuple[dict, set]:
    """name -> RFState (which tensor dims carry which input spatial axis, per-axis globality), and
    the names downstream of a fractional-stride window (transposed conv, up-sampling): there the
    composed field is an upper bound whatever the final stride, since which inputs an output reads
    depends on its position modulo the stride."""
    shapes = {INPUT: report.input_shape, **report.inputs}  # several named inputs: each its own
    states = {n: rfmod.initial(x) for n, x in shapes.items()}
    approx: set = set()
    for node, r in zip(network.nodes, report.layers):
        out = tuple(r.output_shape)
        op = node.layer.receptive_field([shapes[i] for i in node.inputs], out)
        if len(node.inputs) == 1:
            state = rfmod.apply(op, states[node.inputs[0]], len(out))
        else:
            state, _ = rfmod.merge([states[i] for i in node.inputs], max(len(report.input_shape) - 2, 0))
            state = rfmod.apply(op, state, len(out))
        states[node.name], shapes[node.name] = state, out
        fractional = isinstance(op, Window) and any(
            Fraction(v).denominator != 1 for v in (*op.kernel, *op.stride, *op.padding))
        if fractional or any(i in approx for i in node.inputs):
            approx.add(node.name)
    return states, approx


def _probe_targets(network, report, rf_layers):
    names = [r.name for r in report.layers]
    if rf_layers == "all":
        return names
    n = int(rf_layers)
    if n >= len(names):
        return names
    step = (len(names) - 1) / max(n - 1, 1)
    picked = {names[round(i * step)] for i in range(n)}
    return [nm for nm in names if nm in picked]


PROBE_BATCH = 8  # layers probed per forward/backward pass (memory grows with it)


def _check_receptive_fields(network, report, shape, device, rf_layers, result, compare):
    targets = _probe_targets(network, report, rf_layers)
    states, approx = _axis_states(network, report)
    # several inputs: a field is in input pixels, so it is probed on every input with the first
    # one's spatial size (the union of their gradients); a layer reading another size is named
    apart = {n: tuple(s) for n, s in network.inputs[1:] if tuple(s[2:]) != tuple(shape[2:])}
    if apart:
        reads = _inputs_read(network)
        # an input of another spatial rank has other axes: a field merged with it counts only the first
        # input's pixels (rf.frame), which the probe measures; a layer in its own axes is not probed
        resized = {n for n, s in apart.items() if len(s) == len(shape)}
        n_axes = len(shape) - 2
        skipped = [t for t in targets if reads[t] & resized or len(states[t].fields) != n_axes]
        targets = [t for t in targets if t not in skipped]
        if skipped:
            result.notes.append(
                f"receptive field of {', '.join(skipped)} not probed: they read input(s) "
                f"{', '.join(f'{n!r} ({_dims(s[2:])})' for n, s in apart.items())} of another spatial size than "
                f"the first input's {_dims(shape[2:])}, whose pixels a field counts")
    model = dependency_surrogate(to_torch(network, shape)).to(device)
    for start in range(0, len(targets), PROBE_BATCH):
        group = targets[start:start + PROBE_BATCH]
        measured = _probe_group(model, network, group, states, shape, device, result, set(apart))
        if measured is None:
            return
        _compare_fields(measured, states, approx, report, shape, compare, network)


def _inputs_read(network) -> dict:
    """node name -> the network inputs it depends on."""
    reads = {name: {name} for name in network.input_names}
    for node in network.nodes:
        reads[node.name] = set().union(*(reads[i] for i in node.inputs))
    return reads


def _dims(spatial) -> str:
    return "×".join(str(d) for d in spatial)


def _probe_group(model, network, targets, states, shape, device, result, apart=frozenset()):
    """One forward and backward pass, one batch element per layer: name -> (unit, extents). With
    several inputs every one gets a positive tensor; the extents are the union over those with the
    first input's spatial size (`apart`: the others)."""
    batch = len(targets)
    if network.inputs:
        xs = {n: positive_input((batch,) + tuple(shape[1:] if j == 0 else s[1:]), device, seed=j).requires_grad_(True)
              for j, (n, s) in enumerate(network.inputs)}
        probed = [t for n, t in xs.items() if n not in apart]
    else:
        xs = positive_input((batch,) + tuple(shape[1:]), device).requires_grad_(True)
        probed = [xs]
    try:
        values = model.run(xs, keep=True)
    except Exception as e:  # noqa: BLE001 - e.g. a Reshape that writes the batch size
        result.notes.append(f"receptive field not probed: the network does not run at batch {batch} ({e})")
        return None
    units = {}
    loss = 0
    for b, name in enumerate(targets):
        y = values[name]
        if y.dim() == 0 or y.shape[0] != batch:
            continue
        # the centre position on dims that carry one spatial axis; every index on the others
        # (all channels: a Concat's channels come from branches with different fields)
        state = states[name]
        unit = (b,) + tuple((s - 1) // 2 if len(state.axes[j]) == 1 and not state.is_mixed(j) else slice(None)
                            for j, s in enumerate(y.shape) if j > 0)
        units[name] = (b, unit)
        loss = loss + readout(y[unit])
    if not units:
        return {}
    loss.backward()
    grads = [x.grad if x.grad is not None else torch.zeros_like(x) for x in probed]
    if not all(finite(g) for g in grads):
        result.notes.append("receptive field not probed: the dependency surrogate overflowed")
        return None
    return {name: (unit, _union([influence_extent(g, b) for g in grads])) for name, (b, unit) in units.items()}


def _union(extents: list) -> list:
    """Per axis, the smallest (first, last) covering every input's extent (None where none reaches)."""
    out = []
    for per_axis in zip(*extents):
        hit = [e for e in per_axis if e is not None]
        out.append((min(e[0] for e in hit), max(e[1] for e in hit)) if hit else None)
    return out


def _compare_fields(measured, states, approx, report, shape, compare, network):
    rows = {r.name: r for r in report.layers}
    spatial = shape[2:]
    lengths = {INPUT: tuple(shape), **{n: tuple(s) for n, s in report.inputs.items()},  # several named inputs
               **{r.name: tuple(r.output_shape) for r in report.layers}}
    reads = {node.name: node.inputs for node in network.nodes}
    for name, (unit, extent) in measured.items():
        state = states[name]
        rfr = rows[name].receptive_field
        for a, L in enumerate(spatial):
            if state.empty:  # reads no input position: the probe must find no dependence
                compare(name, "receptive_field", None, extent[a], note=f"axis {a}: reads no input values")
                continue
            f = state.fields[a]
            carriers = [j for j, ax in enumerate(state.axes) if a in ax]
            if f.is_global:
                # the whole input, less any tail that strided layers never read (SqueezeNet's 7x7/2
                # stem skips the last column at 224): the prediction is an upper bound
                _compare_within(compare, name, (0, L - 1), extent[a], a)
                continue
            if not (len(carriers) == 1 and state.axes[carriers[0]] == frozenset({a})) or state.is_mixed(carriers[0]):
                continue  # the axis is mixed with others (flatten/reshape): no single unit index
            o = unit[carriers[0]]
            lo = o * Fraction(rfr.stride[a]) - Fraction(rfr.padding[a])
            hi = lo + Fraction(rfr.size[a]) - 1
            if (name in approx or lo.denominator != 1 or hi.denominator != 1
                    or _past_an_edge(reads, states, lengths, name, a, lo, hi)):
                # fractional stride (transposed conv, up-sampling), or a field that needs positions
                # past an edge of the input or of an intermediate tensor (a padded border, a crop's
                # edge): they do not exist, so the clipped prediction is an upper bound there
                _compare_within(compare, name, (max(_ceil(lo), 0), min(int(hi // 1), L - 1)), extent[a], a)
                continue
            compare(name, "receptive_field", (int(lo), int(hi)), extent[a],
                    note=f"axis {a}: unit {_unit_str(unit)}; size {rfr.size[a]}, stride {rfr.stride[a]}, "
                         f"padding {rfr.padding[a]}")


def _past_an_edge(reads, states, lengths, name, a, lo, hi) -> bool:
    """Does the field [lo, hi] of `name` along input axis a need a position outside the input or an
    upstream tensor? Position q of a tensor with field (size K, stride S, padding P) covers input
    [q*S - P, q*S - P + K - 1]; the unit reads the q whose fields lie inside [lo, hi]."""
    seen, todo = set(), list(reads[name])
    n_axes = len(states[name].fields)
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        todo.extend(reads.get(t, ()))
        st = states.get(t)
        if st is None or len(st.fields) != n_axes:
            continue  # a path from an input of another spatial rank: it counts other positions (rf.frame)
        f = st.fields[a]
        carriers = [j for j, ax in enumerate(st.axes) if a in ax]
        if f.is_global or len(carriers) != 1 or st.axes[carriers[0]] != frozenset({a}) or st.is_mixed(carriers[0]):
            continue
        S, P, K = Fraction(f.stride), Fraction(f.padding), Fraction(f.size)
        q_lo, q_hi = _ceil((lo + P) / S), (hi - K + 1 + P) // S
        if q_lo < 0 or q_hi > lengths[t][carriers[0]] - 1:
            return True
    return False


def _compare_within(compare, name, bound, got, axis):
    ok = got is not None and bound[0] <= got[0] and got[1] <= bound[1]
    compare(name, "receptive_field", f"within {list(bound)}", f"within {list(bound)}" if ok else got,
            note=f"axis {axis}")


def _unit_str(unit) -> str:
    return "[" + ", ".join(str(u) if isinstance(u, int) else ":" for u in unit) + "]"


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


# ------------------------------------------------------------------ symbolic rules at sampled sizes
def _symbolic_input(shape):
    n_spatial = len(shape) - 2
    names = SPATIAL_SYMBOLS.get(n_spatial)
    if names is None:
        return None, ()
    return ("N", shape[1]) + names, ("N",) + names


def _valid(network, shape) -> bool:
    try:
        analyze(network, shape)
        return True
    except ShapeError:
        return False


def _minimal(network, shape, limit):
    """Smallest L (all spatial dims = L, batch 1) for which the network is valid, up to `limit`."""
    for L in range(1, limit + 1):
        s = (1, shape[1]) + (L,) * (len(shape) - 2)
        if _valid(_at_inputs(network, shape, s), s):
            return L
    return None


def _next_prime(n):
    def prime(k):
        return k > 1 and all(k % p for p in range(2, int(k ** 0.5) + 1))
    while not prime(n):
        n += 1
    return n


def sample_sizes(network, shape) -> list:
    """Concrete inputs at which to compare the symbolic rules with torch (see module doc)."""
    spatial = list(shape[2:])
    big = max(spatial)
    m = _minimal(network, shape, big)
    picks = []
    if m is not None:
        picks += [m, m + 1]
        if m > 1:
            picks.append(m - 1)       # just below the minimum: both must reject it
    odd = big if big % 2 else big + 1
    picks += [odd, odd + 1, _next_prime(big + 2)]
    out = []
    for L in dict.fromkeys(picks):
        out.append((1, shape[1]) + (L,) * len(spatial))
    if len(spatial) >= 2:
        out.append((1, shape[1]) + tuple(_next_prime(big + 2) if i == 0 else odd + 1 for i in range(len(spatial))))
    out.append((2,) + tuple(shape[1:]))
    return list(dict.fromkeys(out))


def _tied_inputs(network, shape) -> tuple:
    """(inputs whose spatial sizes vary with the first's, inputs whose spatial sizes stay as declared):
    an input varies with the first where its spatial sizes equal the first one's (a siamese pair)."""
    tied, kept = [], []
    for j, (n, s) in enumerate(network.inputs):
        (tied if j == 0 or tuple(s[2:]) == tuple(shape[2:]) else kept).append(n)
    return tied, kept


def _at_inputs(network, shape, first) -> Network:
    """The network with its inputs at `first`'s sizes: the batch where an input's batch is the first
    one's, the spatial sizes where they are too (tied); channels stay each input's own."""
    if not network.inputs:
        return network
    tied, _ = _tied_inputs(network, shape)
    inputs = tuple((n, (first[0] if s[0] == shape[0] else s[0], s[1]) + tuple(first[2:] if n in tied else s[2:]))
                   for n, s in network.inputs)
    return replace(network, inputs=inputs)


def _check_sizes(network, shape, result, compare, kinds):
    sym_shape, names = _symbolic_input(shape)
    if sym_shape is None:
        return
    if network.inputs:
        tied, kept = _tied_inputs(network, shape)
        if kept:
            result.notes.append(f"sampled sizes vary the spatial sizes of input(s) {', '.join(map(repr, tied))} "
                                f"together; {', '.join(map(repr, kept))} keep their declared spatial sizes "
                                f"(not the first input's)")
    try:
        sym = analyze(_at_inputs(network, shape, sym_shape), sym_shape)
    except ShapeError as e:
        result.notes.append(f"symbolic rules not compared: the network needs concrete spatial sizes ({e.message})")
        return
    with torch.device("meta"):
        model = to_torch(network, shape)
    for s in sample_sizes(network, shape):
        values = dict(zip(names, (s[0],) + tuple(s[2:])))
        conds_ok = all(bool(c.expr.subs({sy: values[sy.name] for sy in c.expr.free_symbols})) for c in sym.conditions)
        at_s = _at_inputs(network, shape, s)
        ours_ok = _valid(at_s, s)
        compare("(network)", "validity(symbolic vs concrete)", conds_ok, ours_ok, at=s)
        torch_ok, outs, flops = _torch_at(model, s, at_s)
        compare("(network)", "validity", ours_ok, torch_ok, at=s,
                note="" if ours_ok == torch_ok else f"torch: {outs}" if not torch_ok else "")
        result.sizes.append((s, ours_ok))
        if not (ours_ok and torch_ok):
            continue
        calls = _calls(network)
        for r in sym.layers:
            want = tuple(substitute(d, values) for d in r.output_shape)
            compare(r.name, "output_shape(symbolic)", want, tuple(outs[r.name].shape), at=s)
            if r.shares is not None:
                continue  # one module called again: torch gives its FLOPs and params under one name
            group = calls.get(r.name, [r.name])
            compare(r.name, "flops(symbolic)", sum(2 * substitute(sym.layer(m).macs, values) for m in group),
                    sum(flops.get(m, 0) for m in group), at=s,
                    note="" if len(group) == 1 else f"{len(group)} calls of one module: {', '.join(group)}")
            compare(r.name, "params(symbolic)", substitute(r.params, values),
                    sum(p.numel() for p in model.node_module(r.name).parameters()), at=s)


def _calls(network) -> dict:
    """owner node -> the names of all nodes calling its module (itself first), for shared weights."""
    root: dict = {}
    out: dict = {}
    for n in network.nodes:
        root[n.name] = root.get(n.shares, n.shares) if n.shares is not None else n.name
        out.setdefault(root[n.name], []).append(n.name)
    return out


def _torch_at(model, s, network=None):
    """(ran, outputs by name or the error text, forward FLOPs by name) for torch on the meta device.

    The module is built once at the requested input: only spatial and batch sizes vary here, and
    they do not change a module's arguments, so torch alone decides whether `s` is valid. Several
    inputs: `network` holds every input's shape at `s`.
    """
    x = _inputs(network, s, lambda t: torch.empty(t, device="meta")) if network is not None and network.inputs \
        else torch.empty(s, device="meta")
    try:
        outs = model.run(x, keep=True)
        flops = module_flops(model, x)
    except Exception as e:  # noqa: BLE001 - any torch error means torch rejects this input
        return False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", {}
    return True, outs, flops
