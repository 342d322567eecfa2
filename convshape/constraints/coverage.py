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
from ..layers.base import GlobalOver, Pointwise, Remap, Window

GLOBAL = "global"   # the tracked axis was reduced or mixed into other dims


class Coverage:
    """Per-network structure for reach(); lengths of the tracked axis are supplied per size."""

    def __init__(self, network, report, axis: int):
        self.network = network
        shapes = {INPUT: tuple(report.input_shape)}
        for r in report.layers:
            shapes[r.name] = tuple(r.output_shape)
        self.shapes = shapes
        self.ops = {}
        self.axis = {INPUT: axis}
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
        a = self.axis.get(node.inputs[0])
        if a is None or a == GLOBAL:
            return GLOBAL if a == GLOBAL or any(self.axis.get(i) == GLOBAL for i in node.inputs) else None
        rank_in, rank_out = len(ins[0]), len(out)
        if isinstance(op, GlobalOver):
            if a in op.dims:
                return GLOBAL
            return a if rank_in == rank_out else None
        if isinstance(op, Remap):
            for j, src in enumerate(op.sources):
                if a in src:
                    return j if len(src) == 1 else GLOBAL
            return None
        if _adaptive(node.layer):
            return GLOBAL if out[a] == 1 else a
        return a if rank_in == rank_out else rank_out - (rank_in - a)

    def tracked(self):
        """(tensor name, axis index) of every tensor that still carries the tracked axis."""
        return [(t, a) for t, a in self.axis.items() if isinstance(a, int)]

    def unread(self, length) -> tuple:
        """(number of trailing input positions no output reads, layers whose windows stop short).

        `length(t)` gives the size of tensor t along the tracked axis at the size being checked.
        """
        cut = []
        memo: dict = {}
        last = self.network.nodes[-1].name
        end = self._reach(last, None if self.axis[last] == GLOBAL else length(last) - 1, length, memo, cut)
        return (length(INPUT) - 1) - end, list(dict.fromkeys(cut))

    def _reach(self, t, j, length, memo, cut):
        # explicit stack: deep networks would exhaust Python's recursion limit
        stack = [(t, j)]
        while stack:
            key = stack[-1]
            if key in memo:
                stack.pop()
                continue
            name, pos = key
            needs = self._needs(name, pos, length, cut)
            missing = [q for q in needs if q not in memo and q[0] != INPUT]
            if missing:
                stack.extend(missing)
                continue
            value = -1
            for q in needs:
                v = q[1] if q[0] == INPUT else memo[q]
                value = max(value, v if v is not None else -1)
            memo[key] = value
            stack.pop()
        return memo[(t, j)]

    def _needs(self, name, pos, length, cut):
        """The (tensor, position) queries whose reach decides reach(name, pos)."""
        if name == INPUT:
            return [(INPUT, pos)]
        node = self.network.node(name)
        op = self.ops[name]
        out_axis = self.axis[name]
        needs = []
        for i in node.inputs:
            in_axis = self.axis.get(i)
            if in_axis is None:
                continue  # this input does not carry the tracked axis
            if in_axis == GLOBAL:
                needs.append((i, None))
                continue
            L = length(i)
            if out_axis == GLOBAL or pos is None:
                needs.append((i, L - 1))  # everything of the input
                continue
            if L == 1:
                needs.append((i, 0))      # broadcast
                continue
            if isinstance(op, Window) and not _adaptive(node.layer):
                w = in_axis - (len(self.shapes[i]) - len(op.kernel))
                if w >= 0:
                    hi = _last_tap(node.layer, op, w, pos, L)
                    if pos == length(name) - 1 and hi < L - 1:
                        cut.append(name)
                    if hi >= 0:
                        needs.append((i, hi))
                    continue
            if _adaptive(node.layer):
                out_len = length(name)
                needs.append((i, min(L - 1, -(-(pos + 1) * L // out_len) - 1)))
                continue
            needs.append((i, min(pos, L - 1)))
        return needs


def _adaptive(layer) -> bool:
    return layer.kind.startswith("Adaptive")


def _last_tap(layer, op: Window, w: int, o: int, L: int) -> int:
    """Largest input index (< L) read by outputs 0..o along window axis w; -1 if only padding.

    Over all outputs up to o, not just o: with dilation the last output's top tap can fall in the
    padding while an earlier output's top tap is the last real pixel.
    """
    if hasattr(layer, "d") and hasattr(layer, "k") and not layer.kind.startswith("ConvTranspose"):
        d, k, s = layer.d()[w], layer.k()[w], int(op.stride[w])
        p = int(op.padding[w])
        best = -1
        for tap in range(k):
            q = min(o, (L - 1 + p - tap * d) // s)   # the last output whose tap `tap` is inside
            if q >= 0:
                idx = q * s - p + tap * d
                if idx >= 0:
                    best = max(best, idx)
        return best
    hi = floor(Fraction(o) * Fraction(op.stride[w]) - Fraction(op.padding[w]) + Fraction(op.kernel[w]) - 1)
    return min(hi, L - 1) if hi >= 0 else -1


def lost_pixels(network, report, search: int = 256) -> list:
    """Spatial axes whose trailing input pixels never reach the output, for a lint finding.

    Returns [(axis name, count, cut layers, nearest size below, above, when)]: for a concrete input,
    `count` pixels are lost at the declared size and below/above are the nearest valid sizes that
    lose none; for a symbolic input, `when` says at which valid sizes (in 1..search) pixels are lost.
    """
    from .compile import compile_values
    from .derivation import derive, spatial_rank
    from .model import intervals_text

    shape = tuple(report.input_shape)
    symbolic = bool(report.symbols)
    if not symbolic:
        n = spatial_rank(network, len(shape))
        axes = list(range(len(shape) - n, len(shape)))
        names = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(n) or tuple(f"S{i + 1}" for i in range(n))
        lost = []
        for k, name in zip(axes, names):
            cov = Coverage(network, report, k)
            count, cut = cov.unread(lambda t, cov=cov: cov.shapes[t][cov.axis[t]])
            if count > 0:
                lost.append((k, name, count, cut))
        if not lost:
            return []
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
                            f"{intervals_text(losing, 4)}"))
            continue
        x0 = shape[k]
        below = next((x for x in range(x0 - 1, 0, -1) if rule.is_valid(x) and loss(x)[0] == 0), None)
        above = next((x for x in range(x0 + 1, 4 * x0 + 64) if rule.is_valid(x) and loss(x)[0] == 0), None)
        out.append((name, count, cut, below, above, None))
    return out
