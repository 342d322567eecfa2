"""Clocks for the runner: perf_counter on CPU; CUDA events on GPU (one event between consecutive
layers, read after a single synchronize, so timing adds no device stalls)."""
from __future__ import annotations

import statistics
import time

import torch


class Clock:
    """Marks points in a stream of work; `intervals()` gives seconds between consecutive marks."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks: list = []

    def mark(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def intervals(self) -> list[float]:
        if self.cuda:
            torch.cuda.synchronize()
            return [a.elapsed_time(b) / 1e3 for a, b in zip(self.marks, self.marks[1:])]
        return [b - a for a, b in zip(self.marks, self.marks[1:])]


def synchronize(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median(values):
    return statistics.median(values) if values else None


def time_calls(fn, device: torch.device, repeats: int, warmup: int) -> list[float]:
    """Seconds of each of `repeats` calls of fn() after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    clock = Clock(device)
    clock.mark()
    for _ in range(repeats):
        fn()
        clock.mark()
    return clock.intervals()
