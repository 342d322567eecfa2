"""Measure a device's peak matrix-product rate per dtype and its copy bandwidth, and cache them.

No datasheet figure is written anywhere: the roofline uses what this machine does. The cache is
one JSON file keyed by device (name, thread count, torch version), in $CONVSHAPE_CACHE_DIR when
set, else the platform's user cache directory (~/.cache/convshape on Linux, honouring
$XDG_CACHE_HOME; ~/Library/Caches/convshape on macOS; %LOCALAPPDATA%\\convshape\\Cache on Windows).
"""
from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

DTYPES = ("float32", "bfloat16", "float16", "float64")
CACHE_ENV = "CONVSHAPE_CACHE_DIR"


@dataclass
class Calibration:
    device: str                       # cache key, e.g. "cuda:NVIDIA H100 80GB HBM3:torch 2.14.1"
    device_name: str
    matmul_flops: dict                # dtype -> FLOP/s of the best square matrix product measured
    copy_bytes_per_s: float           # bytes read + written per second by a large device copy
    matmul_sizes: dict = field(default_factory=dict)   # dtype -> n of the n x n x n product that won
    copy_bytes: int = 0               # size of the copied buffer
    measured_at: str = ""
    torch_version: str = ""

    def peak(self, dtype: str) -> float | None:
        return self.matmul_flops.get(dtype)

    def to_dict(self) -> dict:
        return asdict(self)


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "convshape"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "convshape" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "convshape"


def cache_path() -> Path:
    return cache_dir() / "calibration.json"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_identity(device) -> tuple[str, str]:
    """(cache key, readable name) for a torch device."""
    import torch
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{_cpu_name()} ({torch.get_num_threads()} threads)"
    return f"{device.type}:{name}:torch {torch.__version__}", name


def _read_cache() -> dict:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}


def load(device) -> Calibration | None:
    key, _ = device_identity(device)
    entry = _read_cache().get(key)
    if not entry:
        return None
    try:
        return Calibration(**entry)
    except TypeError:   # written by another version: measure again
        return None


def save(cal: Calibration) -> Path:
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _read_cache()
    data[cal.device] = cal.to_dict()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)     # atomic: concurrent runs never read half a file
    return path


def measure_matmul(device, dtype: str, max_n: int, budget_s: float) -> tuple[float, int]:
    """Best 2n^3 / t over square products n = 256, 512, ... while the next one would take at most
    budget_s at the best rate so far, up to n = max_n. Peak means the fastest call, not the median:
    a busy machine slows some calls down, never speeds one up."""
    import torch

    best, best_n = 0.0, 0
    n = 256
    torch_dtype = getattr(torch, dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    while n <= max_n:
        a = torch.randn(n, n, device=device, dtype=torch_dtype, generator=gen)
        b = torch.randn(n, n, device=device, dtype=torch_dtype, generator=gen)
        seconds = _fastest(lambda: a @ b, device)
        rate = 2 * n ** 3 / seconds
        if rate > best:
            best, best_n = rate, n
        n *= 2
        if 2 * n ** 3 / best > budget_s:
            break
    return best, best_n


def measure_copy(device, nbytes: int) -> float:
    import torch

    src = torch.empty(nbytes, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    seconds = _fastest(lambda: dst.copy_(src), device)
    return 2 * nbytes / seconds


def _fastest(fn, device, calls: int = 10, seconds: float = 0.1) -> float:
    """The fastest of at least `calls` timed calls (CPU: and of at least `seconds` of calling).

    Peak means the fastest call, not the median: a busy machine slows calls down, never speeds
    one up. On a CPU shared with other work the first calls can be 80x slow (a 256^3 product took
    16 ms instead of 0.2 ms while the thread pool woke up), so CPU sampling is time-boxed.
    """
    import time

    from .timing import time_calls
    if device.type == "cuda":
        return min(time_calls(fn, device, repeats=calls, warmup=3))
    fn()
    best, n, end = float("inf"), 0, time.perf_counter() + seconds
    while n < 3 or time.perf_counter() < end:
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        n += 1
    return best


def measure(device, dtypes=DTYPES) -> Calibration:
    """Measure now (a few seconds on CPU, about as long on a GPU) and return the figures."""
    import torch
    key, name = device_identity(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.init()
    flops, sizes = {}, {}
    for dtype in dtypes:
        # half precision on a CPU without native support is slow: the time budget stops the ladder
        rate, n = measure_matmul(device, dtype, max_n=16384 if cuda else 2048,
                                 budget_s=0.2 if cuda else 0.05)
        flops[dtype], sizes[dtype] = rate, n
    copy_bytes = (1 << 30) if cuda else (64 << 20)
    bandwidth = measure_copy(device, copy_bytes)
    return Calibration(device=key, device_name=name, matmul_flops=flops, copy_bytes_per_s=bandwidth,
                       matmul_sizes=sizes, copy_bytes=copy_bytes,
                       measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       torch_version=torch.__version__)


def calibration_for(device, dtype: str) -> tuple[Calibration, bool]:
    """The cached calibration for this device, measuring (and caching) it when missing or when it
    lacks this dtype; the flag says whether it was measured now."""
    cal = load(device)
    if cal is not None and dtype in cal.matmul_flops:
        return cal, False
    cal = measure(device)
    save(cal)
    return cal, True


def recalibrate(device, dtypes=DTYPES) -> tuple[Calibration, Path]:
    """Measure these dtypes (and the bandwidth) now, keep the cached figures of the others, save."""
    fresh = measure(device, dtypes)
    old = load(device)
    if old is not None:
        fresh.matmul_flops = {**old.matmul_flops, **fresh.matmul_flops}
        fresh.matmul_sizes = {**old.matmul_sizes, **fresh.matmul_sizes}
    return fresh, save(fresh)
