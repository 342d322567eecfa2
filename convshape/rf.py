"""Receptive-field bookkeeping (Araujo, Norris and Sim, Distill 2019), through graphs.

For every tensor we keep, per spatial axis of the network input, the interval of input
positions that one output element reads: start = o * stride - padding, length = size.
Composition with a window (kernel k, stride s, padding p, all in the layer's input units):
    size += (k - 1) * S;  padding += p * S;  S *= s
Transposed convolution and up-sampling have fractional strides; the reported size is then
floor(size), an upper bound on how many input positions one output element can read.
Which tensor dims carry which input axis is tracked through every dim move (layer rules count dims
in their own input); where no interval describes what an output reads (a reduction, attention, a
read that depends on the output's position) the axis is marked global, never given a size.
Several inputs of one spatial rank share its axes; an input of another rank has its own, and a merge
keeps the paths that count the first input's positions (frame).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .layers.base import GlobalOver, NoInputValues, Pointwise, Remap, Window
from .report import ReceptiveField


@dataclass(frozen=True)
class AxisRF:
    size: object = 1
    stride: object = 1
    padding: object = 0
    is_global: bool = False


@dataclass(frozen=True)
class RFState:
    axes: tuple      # per tensor dim: frozenset of input-axis indices it carries
    fields: tuple    # per input spatial axis: AxisRF
    mixed: tuple = ()  # per tensor dim: True where a flatten folded other dims into a spatial one
                       # (its index is not a position along the axis); () means none
    empty: bool = False  # the value reads no input position (built from a shape alone)

    def is_mixed(self, j: int) -> bool:
        return bool(self.mixed) and self.mixed[j]


def initial(input_shape) -> RFState:
    rank = len(input_shape)
    n_spatial = max(rank - 2, 0)
    axes = tuple(frozenset({d - 2}) if d >= 2 else frozenset() for d in range(rank))
    return RFState(axes, tuple(AxisRF() for _ in range(n_spatial)))


def _fr(x):
    return Fraction(x) if type(x) is int else x


def apply(op, state: RFState, out_rank: int) -> RFState:
    if isinstance(op, NoInputValues) or state.empty:  # whatever follows still reads no input position
        return RFState((frozenset(),) * out_rank, state.fields, (), True)
    if isinstance(op, Pointwise):
        axes = state.axes
        if len(axes) != out_rank:  # rank changed by broadcasting/squeezing: keep trailing dims
            return RFState(_align(axes, out_rank), state.fields, _align_mixed(state, out_rank))
        return state
    if isinstance(op, Window):
        fields = list(state.fields)
        for d in op.whole:
            for a in state.axes[d]:
                f = fields[a]
                fields[a] = AxisRF(f.size, f.stride, f.padding, True)
        n = len(op.kernel)
        rank = len(state.axes)
        for j, dim_axes, k, s, p in zip(range(rank - n, rank), state.axes[-n:], op.kernel, op.stride, op.padding):
            if k == 1 and s == 1 and p == 0:
                continue  # this dim passes through unchanged
            for a in dim_axes:
                f = fields[a]
                if f.is_global:
                    continue
                if len(dim_axes) > 1 or state.is_mixed(j) or sum(a in ax for ax in state.axes) > 1:
                    # a flattened or split axis: which input positions a window reads depends on the
                    # output position (rows wrap), no (size, stride, padding) describes it
                    fields[a] = AxisRF(f.size, f.stride, f.padding, True)
                    continue
                S = _fr(f.stride)
                fields[a] = AxisRF(size=f.size + (_fr(k) - 1) * S, stride=S * _fr(s),
                                   padding=f.padding + _fr(p) * S, is_global=False)
        if op.sources is not None:
            return apply(Remap(op.sources), RFState(state.axes, tuple(fields), state.mixed), out_rank)
        return RFState(_align(state.axes, out_rank), tuple(fields), _align_mixed(state, out_rank))
    if isinstance(op, GlobalOver):
        fields = list(state.fields)
        for d in op.dims:
            for a in state.axes[d]:
                f = fields[a]
                fields[a] = AxisRF(f.size, f.stride, f.padding, True)
        if op.sources is not None:
            return apply(Remap(op.sources), RFState(state.axes, tuple(fields), state.mixed), out_rank)
        return RFState(_align(state.axes, out_rank), tuple(fields), _align_mixed(state, out_rank))
    if isinstance(op, Remap):
        axes = tuple(frozenset().union(*(state.axes[s] for s in srcs)) if srcs else frozenset()
                     for srcs in op.sources)
        # a group of several dims of which one carries an axis: the merged index is not a position
        mixed = tuple(bool(ax) and (len(srcs) > 1 or any(state.is_mixed(s) for s in srcs))
                      for ax, srcs in zip(axes, op.sources))
        return RFState(axes, state.fields, mixed if any(mixed) else ())
    raise TypeError(f"unknown receptive-field op {op!r}")


def _align(axes, rank, fill=frozenset()):
    if len(axes) == rank:
        return axes
    if len(axes) > rank:
        return axes[len(axes) - rank:]
    return (fill,) * (rank - len(axes)) + axes


def _align_mixed(state: RFState, rank: int) -> tuple:
    if not state.mixed:
        return ()
    return _align(state.mixed, rank, fill=False)


def frame(states, n_axes=None) -> list:
    """The paths whose fields count the same input's positions: those with n_axes fields (the first
    network input's spatial rank) if any, else those with as many as the first path. A path with
    another count comes from an input of another spatial rank: it reads none of these positions."""
    n = n_axes if any(len(s.fields) == n_axes for s in states) else len(states[0].fields)
    return [s for s in states if len(s.fields) == n]


def merge(states, n_axes=None):
    """Union over paths; returns (state, aligned) where aligned means equal strides and centres.

    The inputs are aligned from the right to the largest input rank (torch broadcasting), the
    rank the merging layer's rule counts its dims in; the output rank is the rule's business.
    n_axes: the first network input's spatial rank; paths from inputs of another spatial rank
    are left out (frame), so the merged field counts one input's positions."""
    rank = max(len(s.axes) for s in states)
    if all(s.empty for s in states):
        return RFState((frozenset(),) * rank, states[0].fields, (), True), True
    states = frame([s for s in states if not s.empty], n_axes)  # a path reading no input adds no position
    rank_axes = [_align(s.axes, rank) for s in states]
    axes = tuple(frozenset().union(*col) for col in zip(*rank_axes))
    n = len(states[0].fields)
    fields = []
    aligned = True
    for a in range(n):
        fs = [s.fields[a] for s in states]
        if any(f.is_global for f in fs):
            g = next(f for f in fs if f.is_global)
            fields.append(g)
            continue
        carriers = {frozenset(j for j, ax in enumerate(r) if a in ax) for r in rank_axes} - {frozenset()}
        if len(carriers) > 1:
            # the paths hold the axis in different dims (x + x^T): an output reads positions that
            # depend on its own position, no (size, stride, padding) describes it
            f = fs[0]
            fields.append(AxisRF(f.size, f.stride, f.padding, True))
            continue
        lo = _extreme(min, [-f.padding for f in fs])
        hi = _extreme(max, [-f.padding + f.size - 1 for f in fs])
        strides = {f.stride for f in fs}
        centres = {-f.padding + (f.size - 1) / 2 for f in fs}
        if len(strides) > 1 or len(centres) > 1:
            aligned = False
        fields.append(AxisRF(size=hi - lo + 1, stride=max(strides, key=_key), padding=-lo))
    mixed = tuple(any(col) for col in zip(*(_align_mixed(s, rank) or (False,) * rank for s in states)))
    return RFState(axes, tuple(fields), mixed if any(mixed) else ()), aligned


def _extreme(pick, values):
    """min/max of sizes; symbolic ones that cannot be ordered (a resize to a fixed size from a
    symbolic input) become sympy Min/Max."""
    try:
        return pick(values)
    except TypeError:
        import sympy as sp
        return (sp.Min if pick is min else sp.Max)(*values)


def _key(x):
    try:
        return float(x)
    except TypeError:
        return 0.0


def to_report(state: RFState, input_shape, aligned=None) -> ReceptiveField:
    spatial = input_shape[2:]
    if state.empty:
        n = len(state.fields)
        return ReceptiveField((0,) * n, (1,) * n, (0,) * n, False, aligned)
    sizes, strides, pads = [], [], []
    for a, f in enumerate(state.fields):
        if f.is_global:
            sizes.append(spatial[a] if a < len(spatial) else f.size)
        else:
            sizes.append(_floor(f.size))
        strides.append(_num(f.stride))
        pads.append(_num(f.padding))
    is_global = bool(state.fields) and all(f.is_global for f in state.fields)
    return ReceptiveField(tuple(sizes), tuple(strides), tuple(pads), is_global, aligned)


def _floor(x):
    if isinstance(x, Fraction):
        return math.floor(x)
    return x


def _num(x):
    if isinstance(x, Fraction) and x.denominator == 1:
        return int(x)
    return x
