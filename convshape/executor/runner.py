"""Run a network on a device twice over, torch.nn and convshape's reference kernels, and confirm
every prediction layer by layer.

One check pass feeds each layer the torch path's outputs, so a difference stays with the layer
that made it: per layer the observed shape must equal the predicted one and the reference must
agree with torch within a tolerance for the dtype. Timing passes then run the torch modules alone
(after warm-up, median over repeats) with one clock mark between consecutive layers; a memory pass
measures the peak. Weights and inputs come from one seed, so a run is reproducible on a device.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..analysis import analyze
from ..dims import prod
from ..errors import SpecError
from ..graph import INPUT, Network
# the liveness schedule shared with the memory figures
from ..memory.schedule import indices_of, last_uses, produced, read_values
from ..report import DTYPE_BYTES
from .kernels import KERNELS, kernel_for
from .result import LayerRun, RunReport, RunTotals
from .timing import Clock, median, synchronize

# max |reference - torch| / max |torch| allowed per dtype: float64 is the tight check of the
# formulas; float32 leaves room for summation order; half types for a few output roundings.
TOLERANCE = {"float64": 1e-10, "float32": 1e-4, "float16": 1e-2, "bfloat16": 3e-2}


@dataclass
class Settings:
    device: torch.device
    dtype: torch.dtype
    repeats: int
    warmup: int
    channels_last: bool


def resolve_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"--device {name}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise SpecError(f"--device {name}: choose cpu or cuda")
    return device


def run(network: Network, input_shape=None, *, device: str = "cpu", dtype: str = "float32", seed: int = 0,
        repeats: int | None = None, warmup: int | None = None, channels_last: bool = False,
        time_reference: bool = False, tolerance: float | None = None, calibration=None,
        progress=None) -> RunReport:
    """Check and time `network` on `device`; see the module docstring. repeats=0 checks without
    timing. `progress(phase, done, total)` is called as layers finish. `calibration` defaults to
    the cached one (measured when missing)."""
    dev = resolve_device(device)
    if dtype not in TOLERANCE:
        raise SpecError(f"--dtype {dtype}: choose one of {', '.join(TOLERANCE)}")
    report = analyze(network, input_shape, dtype=dtype)
    if report.symbols:
        raise SpecError(f"run needs a concrete input, got {list(report.input_shape)}: pass --input with numbers")
    missing = missing_kernels(network)
    if missing:  # refused before anything runs, by name, rather than part-way through
        raise SpecError(f"run has no reference kernel yet for {', '.join(missing)} "
                        f"(layers {', '.join(n.name for n in network.nodes if n.kind in missing)[:200]})",
                        file=network.file)
    if calibration is None:
        from .calibrate import calibration_for
        calibration, _ = calibration_for(dev, dtype)
    cuda = dev.type == "cuda"
    settings = Settings(device=dev, dtype=getattr(torch, dtype),
                        repeats=repeats if repeats is not None else (20 if cuda else 3),
                        warmup=warmup if warmup is not None else (3 if cuda else 1),
                        channels_last=channels_last)
    tol = TOLERANCE[dtype] if tolerance is None else tolerance
    progress = progress or (lambda phase, done, total: None)
    with _exact_float32(dtype, cuda), torch.inference_mode(), torch.random.fork_rng(devices=[dev] if cuda else []):
        torch.manual_seed(seed)
        x = torch.randn(*report.input_shape, device=dev, dtype=settings.dtype)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        modules, checks = _check_pass(network, report, x, settings, tol, progress)
        usable = all(m is not None for m in modules)
        times = ref_times = None
        pass_s = plain_s = peak = None
        if usable and settings.repeats:
            times, pass_s, plain_s = _timed_passes(network, modules, x, settings, progress, "timing", plain=modules)
            if time_reference:
                kernels = [_reference_call(node, _state(m)) for node, m in zip(network.nodes, modules)]
                ref_times, _, _ = _timed_passes(network, kernels, x, settings, progress, "timing reference")
        if usable:
            peak = _peak_memory(network, modules, x, settings)
    layers = _layer_runs(network, report, checks, times, ref_times, calibration)
    t = report.totals
    totals = RunTotals(
        layers=len(layers), confirmed=sum(r.confirmed for r in layers), flops=sum(r.flops for r in layers),
        bytes=sum(r.bytes for r in layers), time_ms=sum(times) * 1e3 if times else None,
        reference_time_ms=sum(ref_times) * 1e3 if ref_times else None,
        roofline_floor_ms=sum(r.roofline_floor_ms or 0.0 for r in layers),
        pass_ms=pass_s * 1e3 if pass_s else None, plain_pass_ms=plain_s * 1e3 if plain_s else None,
        peak_memory_bytes=peak, predicted_peak_bytes=predicted_peak_bytes(network, report),
        activation_plus_param_bytes=t.activation_bytes + t.param_bytes,
        memory_method="torch.cuda.max_memory_allocated" if cuda else "live tensor storages",
    )
    peak_flops = calibration.peak(dtype)
    cal = {"device": calibration.device, "peak_tflops": peak_flops / 1e12 if peak_flops else None,
           "bandwidth_gbs": calibration.copy_bytes_per_s / 1e9, "measured_at": calibration.measured_at}
    return RunReport(network=network.name, input_shape=tuple(report.input_shape), device=str(dev),
                     device_name=calibration.device_name, dtype=dtype, seed=seed, tolerance=tol,
                     layers=layers, totals=totals, calibration=cal, warnings=_calibration_warnings(layers, dev))


def _layer_runs(network, report, checks, times, ref_times, calibration) -> list[LayerRun]:
    """Per layer: predicted flops, the least bytes it must move, its roofline floor and its times."""
    width = DTYPE_BYTES[report.dtype]
    peak_flops = calibration.peak(report.dtype)
    sizes = {INPUT: width * prod(report.input_shape)}     # bytes of each value a node reads or writes
    for node, lr in zip(network.nodes, report.layers):
        sizes[node.name] = width * lr.activation_elements
        if node.layer.has_indices():   # int64 indices: 8 B each, written by the pool, read by its unpool
            sizes[indices_of(node.name)] = 8 * lr.activation_elements
    layers = []
    for i, (node, lr, check) in enumerate(zip(network.nodes, report.layers, checks)):
        moved = 0 if check["view"] else (sum(sizes[v] for v in read_values(node) + produced(node))
                                         + width * (lr.params + lr.buffers))
        flops = 2 * lr.macs + lr.other_ops
        compute_s = flops / peak_flops if peak_flops else 0.0
        memory_s = moved / calibration.copy_bytes_per_s
        floor_s = max(compute_s, memory_s)
        layers.append(LayerRun(
            name=node.name, type=node.kind, predicted_shape=tuple(lr.output_shape), output_shape=check["shape"],
            confirmed=check["confirmed"], max_rel_error=check["error_value"], flops=flops, bytes=moved,
            time_ms=times[i] * 1e3 if times else None, reference_time_ms=ref_times[i] * 1e3 if ref_times else None,
            roofline_floor_ms=floor_s * 1e3 if floor_s else None,
            bound=None if not floor_s else ("compute" if compute_s >= memory_s else "memory"),
            error=check["message"]))
    return layers


def _calibration_warnings(layers, dev) -> list[str]:
    """A compute-bound layer faster than the measured matmul peak means the calibration was taken
    on a busy device. (A memory-bound layer may beat the copy bandwidth honestly: its data was in
    cache, while the calibration copies a buffer larger than the caches.)"""
    fast = [r for r in layers if r.bound == "compute" and (r.roofline_efficiency or 0) > 1.5]
    if not fast:
        return []
    worst = max(fast, key=lambda r: r.roofline_efficiency)
    return [f"{len(fast)} compute-bound layers ran faster than the measured matmul peak allows ({worst.name}: "
            f"{worst.roofline_efficiency:.1f}x): the calibration looks low; run "
            f"`convshape calibrate --device {dev.type}` on an idle machine"]


@contextlib.contextmanager
def _exact_float32(dtype: str, cuda: bool):
    """float32 means float32: no TF32 in cuBLAS or cuDNN while we check and time (restored after)."""
    if not (cuda and dtype == "float32"):
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# ---------------------------------------------------------------- building the torch path
def build_module(layer, input_shapes, settings: Settings):
    """The layer's torch module on the device, in the dtype, in eval mode, with constant-initialized
    tensors (norm scales and shifts, running statistics, PReLU slopes) drawn at random around their
    value so that the reference is checked on every term of its formula."""
    with torch.device(settings.device):
        module = layer.to_torch([tuple(s) for s in input_shapes])
    module = module.to(dtype=settings.dtype).eval().requires_grad_(False)
    for tensor in list(module.parameters()) + list(module.buffers()):
        if not tensor.is_floating_point() or not tensor.numel():
            continue
        # any rank: StdConv's gain and ParamArith's operand are ones of (C, 1, 1, 1) or (1, C, 1);
        # a random filter differs in its first two entries, so the full scan is skipped for it
        flat = tensor.flatten()   # contiguous here (before channels_last), so a view
        if (tensor.numel() == 1 or bool(flat[1] == flat[0])) and bool((tensor == flat[0]).all()):
            c = float(flat[0])
            noise = torch.rand(tensor.shape, device=tensor.device, dtype=torch.float32) - 0.5
            tensor.copy_(c + max(abs(c), 1.0) * noise)
    if settings.channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def _state(module) -> dict:
    """The module's tensors by torch's names: what a reference kernel may read."""
    state = dict(module.named_parameters())
    state.update(dict(module.named_buffers()))
    return state


def missing_kernels(network: Network) -> list[str]:
    """The layer kinds of `network` that have no reference kernel, sorted."""
    return sorted({n.kind for n in network.nodes} - set(KERNELS))


def _store(values, node, out):
    """Put a node's results under the names it produces: its output, and its indices beside it."""
    names = produced(node)
    for name, value in zip(names, out if len(names) > 1 else (out,)):
        values[name] = value


def _reference_call(node, state):
    kernel = kernel_for(node.kind)
    return lambda *xs: kernel(node.layer, list(xs), state)


def rel_error(ref: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """max |ref - out| / max |out| as a 0-d tensor (no device sync); NaN or inf where out has them
    counts as equal only when ref has the same there."""
    wide = torch.float64 if out.dtype == torch.float64 else torch.float32
    if out.numel() == 0:
        return torch.zeros((), dtype=wide, device=out.device)
    a, b = ref.to(wide), out.to(wide)
    same = (a == b) | (torch.isnan(a) & torch.isnan(b))
    diff = torch.where(same, torch.zeros_like(b), (a - b).abs()).nan_to_num(nan=float("inf"))
    scale = torch.where(torch.isfinite(b), b.abs(), torch.zeros_like(b)).amax().clamp(min=torch.finfo(b.dtype).tiny)
    return diff.amax() / scale


def _check_pass(network, report, x, settings: Settings, tol: float, progress):
    values = {INPUT: x}
    modules, checks, errors, index_misses = [], [], [], []
    frees = last_uses(network)
    total = len(network.nodes)
    for i, (node, lr) in enumerate(zip(network.nodes, report.layers)):
        predicted = tuple(lr.output_shape)
        check = {"shape": None, "confirmed": False, "error_value": None, "message": None, "view": False}
        ins = [values.get(name) for name in read_values(node)]
        module = out = indices = None
        if any(t is None for t in ins):
            check["message"] = "not run: an input layer failed on the torch path"
        else:
            try:
                module = build_module(node.layer, [t.shape for t in ins], settings)
                out = module(*ins)
                if node.layer.has_indices():   # (values, int64 argmax indices)
                    out, indices = out
                check["shape"] = tuple(out.shape)
                check["view"] = any(out.untyped_storage().data_ptr() == t.untyped_storage().data_ptr() for t in ins)
            except Exception as e:  # torch rejected what convshape accepted: that is the finding
                module = out = indices = None
                check["message"] = f"torch failed: {type(e).__name__}: {_one_line(e)}"
        _store(values, node, (out, indices) if node.layer.has_indices() else out)
        modules.append(module)
        err = miss = None
        if out is not None:
            try:
                ref = kernel_for(node.kind)(node.layer, ins, _state(module))
                ref, ref_indices = ref if indices is not None else (ref, None)
                if tuple(ref.shape) != tuple(out.shape):
                    check["message"] = f"reference shape {list(ref.shape)} != torch shape {list(out.shape)}"
                elif ref.dtype != out.dtype:
                    check["message"] = f"reference dtype {ref.dtype} != torch dtype {out.dtype}"
                else:
                    err = rel_error(ref, out)
                    if indices is not None:   # the indices must equal torch's exactly
                        check["message"], miss = _index_check(ref_indices, indices)
                del ref, ref_indices
            except Exception as e:
                check["message"] = f"reference kernel failed: {type(e).__name__}: {_one_line(e)}"
            if check["shape"] != predicted and check["message"] is None:
                check["message"] = f"predicted {list(predicted)}, torch gives {list(check['shape'])}"
        errors.append(err)
        index_misses.append(miss)
        checks.append(check)
        for name in frees[i]:
            values.pop(name, None)
        progress("checking", i + 1, total)
    # one device sync for every layer's error
    measured = [t.to(torch.float64) for t in errors + index_misses if t is not None]
    numbers = iter(torch.stack(measured).tolist() if measured else [])
    rel_errors = [next(numbers) if e is not None else None for e in errors]
    misses = [next(numbers) if m is not None else None for m in index_misses]
    for check, value, miss in zip(checks, rel_errors, misses):
        if value is None:
            continue
        check["error_value"] = value
        ok_shape = check["message"] is None
        if ok_shape and not value <= tol:
            check["message"] = f"reference differs from torch: max relative error {value:.3g} > {tol:g}"
        elif ok_shape and miss:
            check["message"] = f"reference indices differ from torch's at {int(miss)} positions"
        check["confirmed"] = check["message"] is None
    return modules, checks


def _index_check(ref, out):
    """(message, count of differing positions as a 0-d tensor): indices must equal torch's exactly."""
    if ref.shape != out.shape or ref.dtype != out.dtype:
        return f"reference indices {ref.dtype} {list(ref.shape)} != torch's {out.dtype} {list(out.shape)}", None
    return None, (ref != out).sum()


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


# ---------------------------------------------------------------- timing and memory
def _forward(network, calls, x, frees, clock=None, after=None):
    values = {INPUT: x}
    for i, (node, call) in enumerate(zip(network.nodes, calls)):
        _store(values, node, call(*[values[name] for name in read_values(node)]))
        if after is not None:
            after(values)        # inputs and output alive together: the layer's own peak
        for name in frees[i]:
            del values[name]
        if clock is not None:
            clock.mark()
    return values


def _timed_passes(network, calls, x, settings: Settings, progress, phase, plain=None):
    """Per-layer median seconds over `repeats` instrumented passes and the median pass time; with
    `plain` (the same calls), also the median of plain passes with no per-layer clock, interleaved
    with the instrumented ones so that a machine getting busier or cooler biases neither."""
    frees = last_uses(network)
    for _ in range(settings.warmup):
        _forward(network, calls, x, frees)
    synchronize(settings.device)
    clocks, outer = [], Clock(settings.device)
    for r in range(settings.repeats):
        clock = Clock(settings.device)
        clock.mark()
        _forward(network, calls, x, frees, clock=clock)
        clocks.append(clock)
        if plain is not None:
            outer.mark()
            _forward(network, plain, x, frees)
            outer.mark()
        progress(phase, r + 1, settings.repeats)
    intervals = [c.intervals() for c in clocks]
    per_layer = [median([iv[i] for iv in intervals]) for i in range(len(network.nodes))]
    plain_s = median(outer.intervals()[::2]) if plain is not None else None
    return per_layer, median([sum(iv) for iv in intervals]), plain_s


def _storage_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        s = t.untyped_storage()
        if s.data_ptr() not in seen:
            seen.add(s.data_ptr())
            total += s.nbytes()
    return total


def _peak_memory(network, modules, x, settings: Settings) -> int:
    """CUDA: the caching allocator's peak over one plain pass (workspaces included). CPU: the
    largest sum of distinct live storages (parameters, buffers, the input, live activations)
    after each layer; a bookkeeping measure, since no CPU allocator statistic covers torch."""
    frees = last_uses(network)
    if settings.device.type == "cuda":
        synchronize(settings.device)
        torch.cuda.reset_peak_memory_stats(settings.device)
        _forward(network, modules, x, frees)
        synchronize(settings.device)
        return int(torch.cuda.max_memory_allocated(settings.device))
    weights = [t for m in modules for t in list(m.parameters()) + list(m.buffers())]
    peak = [0]

    def measure(values):
        peak[0] = max(peak[0], _storage_bytes(weights + list(values.values())))

    _forward(network, modules, x, frees, after=measure)
    return peak[0]


def predicted_peak_bytes(network: Network, report) -> int:
    """Parameters and buffers plus the largest set of activations alive at once, from the
    predicted shapes, freeing each activation after its last reader (the same schedule the
    memory pass runs)."""
    width = DTYPE_BYTES[report.dtype]
    sizes = {INPUT: prod(report.input_shape) * width}
    for node, lr in zip(network.nodes, report.layers):
        sizes[node.name] = lr.activation_bytes
        if node.layer.has_indices():  # the indices live until their own last reader
            sizes[indices_of(node.name)] = 8 * prod(lr.output_shape)
            sizes[node.name] -= sizes[indices_of(node.name)]
    frees = last_uses(network)
    live = sizes[INPUT]
    peak = live
    for i, node in enumerate(network.nodes):
        live += sum(sizes[name] for name in produced(node))
        peak = max(peak, live)
        live -= sum(sizes[name] for name in frees[i])
    return int(peak + (report.totals.params + report.totals.buffers) * width)
