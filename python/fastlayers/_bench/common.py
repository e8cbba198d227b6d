"""Timing helpers and the Case record for benchmarks."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

import numpy as np


@dataclasses.dataclass
class Case:
    family: str
    op: str
    shape: str
    ours: Callable[[], object]
    numpy: Optional[Callable[[], object]] = None
    torch: Optional[Callable[[], object]] = None
    flops: float = 0.0   # floating-point operations per call (0: memory-bound op)
    bytes: float = 0.0   # bytes read + written per call (the byte count the GB/s column uses)
    note: str = ""


def time_ms(fn: Callable[[], object], min_time: float = 0.2, repeat: int = 7, warmup: int = 2,
            stat: str = "median") -> float:
    """Milliseconds per call over `repeat` batches of calls lasting about min_time/repeat: the
    median batch, or with stat="min" the fastest one."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / repeat / one))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return float((np.min(samples) if stat == "min" else np.median(samples)) * 1e3)


def wait_quiet(max_wait: float = 1.0, slice_s: float = 0.01, busy_s: float = 0.002) -> float:
    """Sleeps until this process's threads stop using the CPU: until a slice_s sleep costs less
    than busy_s of CPU time (all threads), or max_wait has passed. Returns the seconds waited.

    Thread pools keep their workers spinning after a call (OpenBLAS for about 100 ms on the
    Zen 3 VM, fastlayers' pool 20 ms), and a library measured while another's workers spin
    shares the cores with them: 2 threads, square 512 right after NumPy ran at 44-61 GFLOP/s,
    after a 200 ms pause at 116-122."""
    t_start = time.perf_counter()
    while time.perf_counter() - t_start < max_wait:
        c0 = time.process_time()
        time.sleep(slice_s)
        if time.process_time() - c0 < busy_s:
            break
    return time.perf_counter() - t_start


def steal_ticks() -> Optional[tuple[int, int]]:
    """(steal, total) clock ticks of all CPUs from /proc/stat, or None off Linux: the share of
    time a hypervisor ran other guests on this VM's cores."""
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (v[7] if len(v) > 7 else 0), sum(v[:8])


def try_torch():
    """torch, set to this process's thread count, or None when it is not installed."""
    try:
        import torch  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - torch is optional
        return None
    from .. import get_num_threads
    torch.set_num_threads(get_num_threads())
    return torch


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
