"""Solve for the limit: the largest batch, or with a batch given the largest square input, whose
memory (training step or inference) fits a budget. Every figure is exact in N, H, W and
non-decreasing in each, so a bisection over concrete analyses finds the limit exactly."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ShapeError, SpecError

MAX_BATCH = 2 ** 31
MAX_SIDE = 2 ** 17


@dataclass
class Figure:
    """The memory of one configuration, with its parts."""
    input_shape: tuple
    peak_bytes: int
    phase: str                     # "inference", "forward", "backward" or "optimizer step"
    layer: str | None              # the layer running at the peak
    parts: dict                    # name -> bytes (weights, gradients, optimizer state, saved, ...)
    dominant: list                 # (layer, bytes) of the layers keeping the most for backward / at the peak
    unknown: tuple = ()            # layers whose saved tensors (training) or temporaries (inference) are not modelled
    copies_unknown: tuple = ()     # imported layers whose value torch copies where no layer stands for the copy
    report: object = field(default=None, repr=False)


def memory_figure(network, shape, dtype="float32", train=False, optimizer="sgd", master=None) -> Figure:
    """The peak of one training step (train=True) or one eval forward, at a concrete input."""
    from ..analysis import analyze
    report = analyze(network, shape, dtype=dtype)
    if report.symbols:
        raise SpecError(f"memory needs a concrete input, got {list(report.input_shape)}: pass --input with numbers")
    if not train:
        t = report.totals
        resident = _resident(network, report)
        top = sorted(((r.name, r.activation_bytes) for r in report.layers), key=lambda x: -x[1])[:3]
        mem = t._memory()
        return Figure(tuple(report.input_shape), t.inference_peak_bytes, "inference", None,
                      {"weights": resident, "live activations at the peak": t.inference_peak_bytes - resident}, top,
                      unknown=mem.temporaries_unknown if mem is not None else (),
                      copies_unknown=tuple(t.inference_peak_unknown), report=report)
    from .training import training_step
    mixed = dtype in ("bfloat16", "float16") if master is None else master
    tm = training_step(network, report, optimizer, mixed_precision=mixed)
    top = sorted(((r.name, r.saved_bytes) for r in report.layers if r.saved_bytes), key=lambda x: -x[1])[:3]
    parts = {"weights": tm.weights_bytes, "float32 master weights": tm.master_bytes,
             "gradients": tm.gradient_bytes, "optimizer state": tm.optimizer_bytes,
             "saved for backward": tm.saved_bytes}
    return Figure(tuple(report.input_shape), tm.peak_bytes, tm.phase, tm.layer, parts, top, tm.unknown,
                  report=report)


def _resident(network, report):
    """Parameters and buffers in bytes (those of modules forward never calls among them)."""
    from ..report import DTYPE_BYTES
    from .rules import buffer_bytes, unused_bytes
    width = DTYPE_BYTES[report.dtype]
    return sum(r.params * width + buffer_bytes(n.layer, r.buffers, width) for n, r in zip(network.nodes, report.layers)) \
        + unused_bytes(network, width)


@dataclass
class Limit:
    what: str                 # "batch" or "square input"
    value: int                # the largest that fits (0: nothing fits)
    fits: Figure | None       # the figure at value
    over: Figure | None       # the figure at the next valid size up, which does not fit


def _one_input(network):
    # --input replaces the first input only: the others keep their written sizes, so no batch or side
    # would scale the whole network
    if len(network.inputs) > 1:
        raise SpecError(f"a budget solve scales one input, and this network has {len(network.inputs)} "
                        f"({', '.join(n for n, _ in network.inputs)}): give each input's shape and read the peak "
                        f"without --budget", file=network.file)


def largest_batch(network, shape, budget: int, **kw) -> Limit:
    """The largest batch N (shape[0]) whose peak is within budget."""
    _one_input(network)
    def at(n):
        return memory_figure(network, (n,) + tuple(shape[1:]), **kw)
    return _bisect(at, budget, MAX_BATCH, "batch")


def largest_square(network, shape, budget: int, **kw) -> Limit:
    """With the batch given, the largest S such that every spatial dim = S fits (sizes the network
    refuses are skipped: the answer is the largest valid one)."""
    _one_input(network)
    if len(shape) < 3:
        raise SpecError("a square input needs spatial dims: the input has none")
    lead = tuple(shape[:2])

    def exactly(side):
        try:
            return memory_figure(network, lead + (side,) * (len(shape) - 2), **kw)
        except ShapeError:
            return None

    def at(s):
        for side in range(s, max(s - 4096, 0), -1):   # the nearest size at or below s the network accepts
            fig = exactly(side)
            if fig is not None:
                return fig
        return None
    smallest = next((s for s in range(1, 4097) if exactly(s) is not None), None)
    if smallest is None:
        raise SpecError("no square input from 1 to 4096 is valid for this network")
    return _bisect(at, budget, MAX_SIDE, "square input", start=smallest)


def _bisect(at, budget, ceiling, what, start=1) -> Limit:
    first = at(start)
    if first is None or first.peak_bytes > budget:
        return Limit(what, 0, None, first)
    lo, lo_fig = start, first
    hi, hi_fig = None, None
    step = 2 * start
    while hi is None:
        if step > ceiling:
            raise SpecError(f"more than {ceiling} fits the budget: the figure does not grow with the {what}")
        fig = at(step)
        if fig is not None and fig.peak_bytes <= budget:
            lo, lo_fig = step, fig
            step *= 2
        else:
            hi, hi_fig = step, fig
    while hi - lo > 1:
        mid = (lo + hi) // 2
        fig = at(mid)
        if fig is not None and fig.peak_bytes <= budget:
            lo, lo_fig = mid, fig
        else:
            hi, hi_fig = mid, fig
    value = _size_of(lo_fig, what)
    return Limit(what, value, lo_fig, hi_fig)


def _size_of(fig, what):
    return fig.input_shape[0] if what == "batch" else fig.input_shape[2]
