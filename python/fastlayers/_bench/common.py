"""Timing helpers and the Case record for benchmarks."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

import numpy as np


# Whether try_torch() may hand out torch. `fastlayers bench` builds each case in three processes
# (ours in the parent, NumPy and PyTorch each in a child of its own, _bench/baseline.py): only the
# PyTorch child sets this, so the others never import torch.
WITH_TORCH = True


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
    effective: bool = False  # flops counts a textbook algorithm ours beats (Winograd): effective GF/s


def time_ms(fn: Callable[[], object], min_time: float = 0.2, repeat: int = 7, warmup: int = 2,
            stat: str = "median", max_time: Optional[float] = None) -> float:
    """Milliseconds per call over `repeat` batches of calls lasting about min_time/repeat: the
    median batch, or with stat="min" the fastest one (after `warmup` calls and one that sizes
    the batches). max_time bounds a slow call's cost: the warm-up ends once it has taken
    max_time, and so do the batches after the second (a 0.7 s call is then timed 2 times, not 7)."""
    t_start = time.perf_counter()
    for _ in range(warmup):
        fn()
        if max_time is not None and time.perf_counter() - t_start >= max_time:
            break
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / repeat / one))
    samples = []
    t_batches = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
        if max_time is not None and len(samples) >= 2 and time.perf_counter() - t_batches >= max_time:
            break
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


def busy_ticks() -> Optional[int]:
    """Clock ticks all CPUs spent running anything (user, nice, system, irq, softirq; not idle,
    iowait or steal) from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return v[0] + v[1] + v[2] + sum(v[5:7])


def set_threads(threads: Optional[int]) -> None:
    """Sets fastlayers' thread count and (threadpoolctl, when installed) every BLAS and OpenMP
    pool of this process to `threads`; None or 0 leaves the defaults."""
    if not threads:
        return
    from .. import set_num_threads
    set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
    except ImportError:
        pass


def try_torch():
    """torch, set to this process's thread count, or None when it is not installed (or this
    process is not the one that times PyTorch: WITH_TORCH)."""
    if not WITH_TORCH:
        return None
    try:
        import torch  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - torch is optional
        return None
    from .. import get_num_threads
    torch.set_num_threads(get_num_threads())
    return torch


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
