"""Which trailing rows and columns of the input never reach the output (floor-mode windows stop short).

For a tensor t and a position j along one tracked input axis, reach(t, j) is the largest input
index that influences any of t[0..j]. Layers map it through their receptive-field operation: a window at
output o reads its input up to o*stride - padding + (last tap), clipped to the input; merges take
the largest over their inputs; global operations read everything. The input pixels after
reach(output, last) are never read, at any depth, by any path: a valid size that still loses
pixels. Exact for the layers' taps (dilation included); only trailing pixels are counted (a 1x1
stride-2 convolution that skips every other row is lint rule CS202's business).
"""
from __future__ import annotations

from fractions import Fraction
from math import floor

from ..graph import INPUT
from ..layers.base import GlobalOver, NoInputValues, Remap, Window

GLOBAL = "global"   # the tracked axis was reduced or mixed into other dims


class Coverage:
    """Per-network structure for reach(); lengths of the tracked axis are supplied per size."""

    def __init__(self, network, report, axis: int):
        self.network = network
        shapes = {INPUT: tuple(report.input_shape)}
        shapes.update({n: tuple(s) for n, s in report.inputs.items()})  # several named inputs
        for r in report.layers:
            shapes[r.name] = tuple(r.output_shape)
        self.shapes = shapes
        self.ops = {}
        # the first input is the one whose coverage is reported (INPUT stands for it); an input of
        # another rank has other axes: it carries none of the tracked one
        rank = len(report.input_shape)
        self.axis = {INPUT: axis, **{n: axis if len(s) == rank else None for n, s in report.inputs.items()}}
        for node in network.nodes:
            if node.name not in shapes:
                break
            ins = [shapes[i] for i in node.inputs]
            try:
                op = node.layer.receptive_field(ins, shapes[node.name])
            except Exception:  # noqa: BLE001 - an op that cannot be described reads everything
                op = GlobalOver(dims=tuple(range(len(shapes[node.name]))))
            self.ops[node.name] = op
            self.axis[node.name] = self._axis_after(node, op, ins, shapes[node.name])

    def _axis_after(self, node, op, ins, out):
        if isinstance(op, NoInputValues):  # built from the input's shape: it carries no position
            return None
        # a merge follows its first input that carries the axis (a gate from another input may come first)
        j = next((j for j, i in enumerate(node.inputs) if self.axis.get(i) is not None), 0)
        a = self.axis.get(node.inputs[j])
        if a is None or a == GLOBAL:
            return GLOBAL if a == GLOBAL or any(self.axis.get(i) == GLOBAL for i in node.inputs) else None
        rank_in, rank_out = len(ins[j]), len(out)
        if isinstance(op, GlobalOver):
            if a in op.dims:
                return GLOBAL
            if op.sources is None:
                return a if rank_in == rank_out else None
        if isinstance(op, Window) and a in op.whole:
            return GLOBAL
        sources = getattr(op, "sources", None)
        if sources is not None:  # GlobalOver's and Window's sources re-arrange dims as Remap's do
            for j, src in enumerate(sources):
                if a in src:
                    return j if len(src) == 1 else GLOBAL
            return None
        if _adaptive(node.layer):
            return GLOBAL if out[a] == 1 else a
        return a if rank_in == rank_out else rank_out - (rank_in - a)

    def tracked(self):
        """(tensor name, axis index) of every tensor that still carries the tracked axis."""
        return [(t, a) for t, a in self.axis.items() if isinstance(a, int)]

    def unread(self, length, source: str | None = None) -> tuple:
        """(number of trailing positions of input `source` (default: the first) no output reads,
        layers whose windows stop short).

        `length(t)` gives the size of tensor t along the tracked axis at the size being checked.
        A backward pass from the output collects, per tensor, the positions that reach it (sets,
        not ranges: a pooling window narrower than its stride reads with gaps).
        """
        nodes = [n for n in self.network.nodes if n.name in self.ops]
        needed: dict = {}
        present = {n.name for n in nodes}
        for last in [o for o in self.network.output_names if o in present] or [nodes[-1].name]:  # every output
            # an output that does not carry the axis (dropped on the way): counted as reading all of it,
            # so no pixel is called lost on its account
            needed[last] = ALL if self.axis[last] in (GLOBAL, None) else set(range(length(last)))
        cut = []
        for node in reversed(nodes):
            out = needed.get(node.name)
            if not out:
                continue
            for i in node.inputs:
                in_axis = self.axis.get(i)
                if in_axis is None:
                    continue
                if in_axis == GLOBAL:
                    needed[i] = ALL
                    continue
                L = length(i)
                if out is ALL or self.axis[node.name] == GLOBAL:
                    got = set(range(L))
                else:
                    got = self._read(node, i, in_axis, out, L, length)
                if got is not None and out is not ALL and (length(node.name) - 1) in out and (L - 1) not in got:
                    cut.append(node.name)
                have = needed.get(i)
                needed[i] = got if have is None else (have | got if have is not ALL else ALL)
        first = source or self.network.input_names[0]  # INPUT, or one of several named inputs
        reached = needed.get(first, set())
        top = length(first) - 1 if reached is ALL else max(reached, default=-1)
        return (length(first) - 1) - top, list(dict.fromkeys(reversed(cut)))

    def _read(self, node, i, in_axis, out, L, length) -> set:
        """Positions of input i (length L) that the output positions `out` of `node` read."""
        op = self.ops[node.name]
        layer = node.layer
        if _adaptive(layer):
            n_out = length(node.name)
            got = set()
            for o in out:
                got.update(range(o * L // n_out, -(-(o + 1) * L // n_out)))
            return got
        if isinstance(op, Window):
            w = in_axis - (len(self.shapes[i]) - len(op.kernel))
            if w >= 0:
                return {x for o in out for x in _taps(layer, op, w, o, L)}
        return {min(o, L - 1) for o in out}


ALL = "all"   # every position (the axis was reduced downstream)


def _taps(layer, op: Window, w: int, o: int, L: int):
    """Input positions (inside 0..L-1) that output o reads along window axis w."""
    if layer.kind.startswith("ConvTranspose"):
        k, s, p, d = layer.k()[w], layer.s()[w], layer.p()[w], layer.d()[w]
        for j in range(k):  # output o = i*s - p + j*d
            num = o + p - j * d
            if num % s == 0 and 0 <= num // s < L:
                yield num // s
        return
    if hasattr(layer, "d") and hasattr(layer, "k"):
        d, k, s = layer.d()[w], layer.k()[w], int(op.stride[w])
        start = o * s - int(op.padding[w])
        for tap in range(k):
            x = start + tap * d
            if 0 <= x < L:
                yield x
        return
    lo = floor(Fraction(o) * Fraction(op.stride[w]) - Fraction(op.padding[w]))
    hi = floor(Fraction(o) * Fraction(op.stride[w]) - Fraction(op.padding[w]) + Fraction(op.kernel[w]) - 1)
    yield from range(max(lo, 0), min(hi, L - 1) + 1)


def _adaptive(layer) -> bool:
    return layer.kind.startswith("Adaptive")


def lost_pixels(network, report, search: int = 256) -> list:
    """Spatial axes whose trailing input pixels never reach the output, for a lint finding.

    Returns [(axis name, count, cut layers, nearest size below, above, when, input)]: for a concrete
    input, `count` pixels are lost at the declared size and below/above are the nearest valid sizes
    that lose none; for a symbolic input, `when` says at which valid sizes (in 1..search) pixels are
    lost. `input` is None for the first input; each further named input of the same rank is checked
    at its declared size (input = its name; the nearest sizes are searched for the first input only).
    """
    from .model import SPATIAL_NAMES, intervals_text, spatial_rank

    shape = tuple(report.input_shape)
    symbolic = bool(report.symbols)
    if not symbolic:
        n = spatial_rank(network, len(shape))
        axes = list(range(len(shape) - n, len(shape)))
        names = SPATIAL_NAMES.get(n) or tuple(f"S{i + 1}" for i in range(n))
        lost, others = [], []
        further = [n for n, s in network.inputs[1:] if len(s) == len(shape)]
        for k, name in zip(axes, names):
            cov = Coverage(network, report, k)
            count, cut = cov.unread(lambda t, cov=cov: cov.shapes[t][cov.axis[t]])
            if count > 0:
                lost.append((k, name, count, cut))
            for source in further:  # the other inputs' borders, at their declared sizes
                n_lost, n_cut = cov.unread(lambda t, cov=cov: cov.shapes[t][cov.axis[t]], source)
                if n_lost > 0:
                    others.append((name, n_lost, n_cut, None, None, None, source))
        if not lost:
            return others
    # sympy from here on: only when pixels are lost, or for a symbolic input
    from .compile import compile_values
    from .derivation import derive
    if not symbolic:
        c = derive(network, shape, {name: (1, max(1024, 4 * shape[k])) for k, name, _, _ in lost})
    else:
        c = derive(network, tuple(d if isinstance(d, int) else str(d) for d in shape),
                   {str(d): (1, search) for d in shape if not isinstance(d, int)})
        lost = [(k, str(d), 0, []) for k, d in enumerate(shape) if not isinstance(d, int)]
    sym_report, sym_network = c.report, c.network_used
    out = []
    for k, name, count, cut in lost:
        rule = c.dim(name)
        cov = Coverage(sym_network, sym_report, k)
        symbol = sym_report.input_shape[k]
        tracked = [(t, a) for t, a in cov.tracked() if not isinstance(cov.shapes[t][a], int)]
        lengths = compile_values([cov.shapes[t][a] for t, a in tracked], [symbol])
        fixed = {t: cov.shapes[t][a] for t, a in cov.tracked() if isinstance(cov.shapes[t][a], int)}

        def loss(x, cov=cov, tracked=tracked, lengths=lengths, fixed=fixed):
            values = dict(zip((t for t, _ in tracked), (int(v) for v in lengths(x))))
            values.update(fixed)
            return cov.unread(lambda t: values[t])

        if symbolic:
            losing = [x for x in range(1, search + 1) if rule.is_valid(x) and loss(x)[0] > 0]
            if losing:
                cut = loss(losing[0])[1]
                valid = sum(1 for x in range(1, search + 1) if rule.is_valid(x))
                out.append((name, 0, cut, None, None,
                            f"at {len(losing)} of the {valid} valid sizes of {name} in 1..{search}: "
                            f"{intervals_text(losing, 4)}", None))
            continue
        x0 = shape[k]
        below = next((x for x in range(x0 - 1, 0, -1) if rule.is_valid(x) and loss(x)[0] == 0), None)
        above = next((x for x in range(x0 + 1, 4 * x0 + 64) if rule.is_valid(x) and loss(x)[0] == 0), None)
        out.append((name, count, cut, below, above, None, None))
    return out + ([] if symbolic else others)
