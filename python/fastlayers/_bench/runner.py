"""`fastlayers bench`: runs the benchmark cases and prints op | shape | ours | NumPy | PyTorch.

Ours is timed in this process; NumPy and PyTorch each in a child process of its own, started
without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (baseline.py). The GPU families (cuda, cuda_conv)
run every library in this process. Every row is the best of interleaved rounds; the table
also gives the run-to-run spread of the rounds and the CPU time other processes took while the
row was timed, and flags a baseline whose rounds differ by more than 2x instead of printing a
ratio from it (table.py formats all this).
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time

from .._progress import progress as progress_bar
from . import FAMILIES, common
from .baseline import LIBS, Baseline
from .common import busy_ticks, steal_ticks, time_ms, wait_quiet
from .table import Table, measure_peak

DEVICES = ("cpu", "cuda")
IN_PROCESS = ("cuda", "cuda_conv")  # GPU timings: no OpenBLAS settings to escape, one process per GPU
IMPLS = ("ours",) + LIBS


def device_families(device=None, families=None) -> list[str]:
    """The families to run: those asked for (default all), only the CUDA ones (cuda, cuda_conv)
    for device="cuda", only the host ones for device="cpu"."""
    fams = list(families or FAMILIES)
    if device is None:
        return fams
    return [f for f in fams if f.startswith("cuda") == (device == "cuda")]


def add_arguments(p) -> None:
    p.add_argument("--family", action="append", choices=FAMILIES,
                   help="only these families (repeatable); default: all")
    p.add_argument("--device", choices=DEVICES,
                   help="cuda: only the GPU cases (cuda, cuda_conv; against PyTorch CUDA when importable), "
                        "exit status 2 without a usable GPU; cpu: only the host cases; default: both")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw our time against NumPy's and PyTorch's per row (log scale; needs matplotlib)")
    p.add_argument("--threads", type=int, help="thread count for fastlayers, NumPy and PyTorch")
    p.add_argument("--quick", action="store_true", help="smaller shapes, shorter timing (2 rounds)")
    p.add_argument("--isa", help="force an ISA level for fastlayers (scalar, avx2, avx512)")
    p.add_argument("--stat", choices=("min", "median"), default="min",
                   help="which batch of calls a round reports: the fastest (default) or the median")


class _Clock:
    """CPU time that processes other than ours take while one measurement runs: the machine's
    busy ticks (/proc/stat) minus the CPU time of this process and of the child measured."""

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.ncpu = os.cpu_count() or 1

    def measure(self, timer):
        """(timer's reply, wall seconds, other processes' CPU seconds or None off Linux)."""
        b0, w0, c0 = busy_ticks(), time.perf_counter(), time.process_time()
        reply = timer()
        b1, w1, c1 = busy_ticks(), time.perf_counter(), time.process_time()
        other = None
        if b0 is not None and b1 is not None:
            other = max(0.0, (b1 - b0) / self.tick - (c1 - c0) - reply.get("cpu_s", 0.0))
        return reply, w1 - w0, other


def _local_timer(fn):
    """A timer for a callable of this process: {"ms"} (its CPU time is this process's)."""
    def timer(**spec):
        wait_quiet()
        ms = time_ms(fn, **spec)
        wait_quiet()  # our pool's spin ends before the next library is timed, in whichever process
        return {"ms": ms}
    return timer


def _child_timer(baseline, index):
    def timer(**spec):
        return baseline.time(index, **spec)
    return timer


def timing_spec(quick: bool, stat: str = "min") -> tuple[int, dict]:
    """(rounds, time_ms keywords of one round): the run's time per row and library, min_time,
    split over the rounds; a slow call stops its warm-up and batches after 3x a round's share."""
    rounds, min_time, repeat = (2, 0.1, 4) if quick else (3, 0.4, 7)
    return rounds, {"min_time": min_time / rounds, "repeat": repeat, "stat": stat,
                    "max_time": 3 * min_time / rounds}


def time_row(timers: dict, rounds: int, spec: dict, clock: _Clock) -> dict:
    """Interleaved rounds over the libraries in `timers` (impl -> timer(**time_ms keywords) ->
    {"ms", "cpu_s"} or {"error"}); each round starts one library later, so none is always timed
    first; only the first round warms up. Returns {impl: [ms per round] or None after an error,
    "_wall": seconds timed, "_other": other processes' CPU seconds meanwhile (None: unknown)}."""
    names = [k for k in IMPLS if k in timers]
    out = {k: [] for k in names}
    wall, other = 0.0, 0.0
    for r in range(rounds):
        for j in range(len(names)):
            k = names[(r + j) % len(names)]
            if out[k] is None:
                continue
            reply, dt, oth = clock.measure(lambda k=k: timers[k](warmup=2 if r == 0 else 0, **spec))
            wall += dt
            other = None if oth is None or other is None else other + oth
            if "error" in reply:
                out[k] = None
            else:
                out[k].append(reply["ms"])
    out.update(_wall=wall, _other=other)
    return out


def load_family(fam: str, quick: bool, baselines: dict):
    """(cases, [per case: {impl: timer}]) for one family: ours timed here, NumPy and PyTorch in
    their child processes (here for the GPU families, or when no child runs)."""
    mod = importlib.import_module(f"fastlayers._bench.{fam}")
    local = fam in IN_PROCESS or not baselines
    if not local:
        for b in baselines.values():  # the children build their cases while this process builds ours
            b.request(load=fam, quick=quick)
    common.WITH_TORCH = local
    try:
        cases = mod.cases(quick)
    finally:
        common.WITH_TORCH = True
    if local:
        return cases, [{k: _local_timer(getattr(c, k)) for k in IMPLS if getattr(c, k) is not None} for c in cases]
    for lib, b in baselines.items():
        listing = b.listing()
        if [tuple(x[:2]) for x in listing] != [(c.op, c.shape) for c in cases]:
            raise RuntimeError(f"fastlayers bench: the {lib} process built other {fam} cases than this one")
    timers = []
    for i, c in enumerate(cases):
        t = {"ours": _local_timer(c.ours)}
        t.update({lib: _child_timer(b, i) for lib, b in baselines.items() if b.has[i]})
        timers.append(t)
    return cases, timers


def _start_baselines(threads) -> dict:
    out = {}
    for lib in LIBS:
        try:
            b = Baseline(lib, threads)
        except RuntimeError as exc:  # its process died on start (a broken install): no column for it
            print(f"fastlayers bench: no {lib} baseline: {exc}", file=sys.stderr)
            continue
        if b.available:
            out[lib] = b
        else:
            b.close()
    return out


def run(families=None, quick=False, threads=None, isa=None, echo=print, stat="min", progress=None) -> list[dict]:
    """Times every case of `families` and prints the table through echo; returns its rows.
    progress, if given (a fastlayers._progress bar), is told each family's row count (grow) and
    each row done (update); echo should then write through it (progress.write)."""
    import fastlayers
    common.set_threads(threads)
    if isa:
        fastlayers.set_isa(isa)
    families = list(families or FAMILIES)
    # The children start first, so that their imports are over before the peak is measured.
    baselines = _start_baselines(threads) if any(f not in IN_PROCESS for f in families) else {}
    rounds, spec = timing_spec(quick, stat)
    try:
        table = Table(echo, peak=measure_peak(), rounds=rounds, stat=stat, baselines=baselines)
        clock = _Clock()
        steal0 = steal_ticks()
        table.header()
        for fam in families:
            cases, timers = load_family(fam, quick, baselines)
            if progress:
                progress.grow(len(cases))
            for c, t in zip(cases, timers):
                table.row(c, time_row(t, rounds, spec, clock), clock.ncpu)
                if progress:
                    progress.update(1, row=f"{fam}: {c.op}")
            del cases, timers
        table.footer(steal0, steal_ticks())
    finally:
        for b in baselines.values():
            b.close()
    return table.rows


def run_cli(args) -> int:
    device = getattr(args, "device", None)
    if device == "cuda":
        from .. import cuda
        if not cuda.is_available():
            print(f"fastlayers bench --device cuda: no usable GPU: {cuda.unavailable_reason()}")
            return 2
    families = device_families(device, args.family)
    if not families:
        print(f"fastlayers bench: none of the families {args.family} runs on {device}")
        return 2
    plot = getattr(args, "plot", None)
    if plot:
        from ..demo.common import plot_unavailable
        if plot_unavailable(plot):
            return 2
    with progress_bar(0, "bench", "row") as bar:
        rows = run(families, args.quick, args.threads, args.isa, echo=bar.write, stat=args.stat, progress=bar)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    if plot:
        from .plot import plot_rows
        plot_rows(rows, plot)
        print(f"plot written to {plot}")
    return 0
