"""The table `fastlayers bench` prints, and the FMA peak its %peak column is relative to.

Per row: the best round of each library, the ratios, GFLOP/s (effective for Winograd rows,
marked *), %peak, GB/s, the run-to-run spread of the rounds (max/min - 1 of the library that
varied most) and the share of the machine's CPU time that other processes took while the row
was timed. A baseline whose rounds differ by more than UNSTABLE (2x) gets 'varies' instead of
a ratio: on a busy machine one library's round can be 100x off (NumPy 15.9 ms once for a
0.04 ms 128^3 product), and a ratio from it says nothing about the kernels.
"""
from __future__ import annotations

import time
from statistics import median

from .baseline import REMOVED_ENV, removed_settings

UNSTABLE = 2.0
_NAMES = {"ours": "fastlayers", "numpy": "NumPy", "torch": "PyTorch"}


def measure_peak(tries: int = 8, good_needed: int = 3, seconds: float = 0.15) -> dict:
    """The FP32 FMA peak of this ISA level and thread count (a register-only FMA loop on every
    thread at once, csrc/ops/peak.h), robustly: the best of the tries during which every thread
    ran, i.e. the process's CPU time was at least 85% of threads x wall time (the pool's caller
    takes the work of a worker that has not woken up, and a core another process holds halves
    the figure: 245 against 463 GFLOP/s between runs on the Xeon VM). When no try had every
    thread running, the best rate per CPU second times the thread count, marked estimated."""
    from .. import _core, get_num_threads
    from .common import wait_quiet
    nt = get_num_threads()
    good, per_cpu = [], []
    for _ in range(tries):
        wait_quiet()
        c0, w0 = time.process_time(), time.perf_counter()
        g = _core.measure_fma_peak_gflops(seconds)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if cpu >= 0.85 * nt * wall:
            good.append(g)
        per_cpu.append(g * wall / max(cpu, 1e-9) * nt)
        if len(good) >= good_needed:
            break
    if good:
        return {"gflops": max(good), "spread": max(good) / min(good) - 1, "tries": len(good), "estimated": False}
    return {"gflops": max(per_cpu), "spread": max(per_cpu) / min(per_cpu) - 1, "tries": 0, "estimated": True}


def _fmt(v, fmt: str) -> str:
    """Formats v, or a right-aligned '-' for a missing figure."""
    width = int("".join(ch for ch in fmt.split(".")[0] if ch.isdigit()) or 1)
    return format(v, fmt) if v is not None else "-".rjust(width)


def _spread(ms_list):
    return max(ms_list) / min(ms_list) - 1 if ms_list and len(ms_list) > 1 else None


class Table:
    """Prints the header, one line per row and the footer through echo; keeps the rows."""

    COLS = (f"{'op':<28} {'shape':<30} {'ours ms':>9} {'numpy ms':>9} {'torch ms':>9} {'vs np':>7} "
            f"{'vs torch':>8} {'GF/s':>8} {'%peak':>6} {'GB/s':>6} {'spread':>6} {'other':>6}")

    def __init__(self, echo, peak: dict, rounds: int, stat: str, baselines: dict):
        import fastlayers
        self.echo, self.peak, self.rounds, self.stat, self.baselines = echo, peak, rounds, stat, baselines
        self.isa, self.threads = fastlayers.get_isa(), fastlayers.get_num_threads()
        self.rows: list[dict] = []
        self._effective = self._varies = False
        self._other = self._wall = 0.0
        self._other_known = True
        self._spreads = {k: [] for k in _NAMES}

    def header(self) -> None:
        p = self.peak
        how = (f"best of {p['tries']} tries with every thread running, spread {100 * p['spread']:.0f}%"
               if not p["estimated"] else "estimated per CPU second: no try had every thread running")
        self.echo(f"fastlayers bench: isa={self.isa} threads={self.threads}; each row: the "
                  f"{'fastest' if self.stat == 'min' else 'median'} batch, best of {self.rounds} interleaved rounds")
        self.echo(f"measured FP32 FMA peak {p['gflops']:.0f} GFLOP/s ({how})")
        libs = ", ".join(f"{_NAMES[k]} {b.version}" + (f" ({b.blas})" if b.blas else "")
                         for k, b in self.baselines.items()) or "none"
        self.echo(f"baselines: {libs}; each in a child process without {' and '.join(REMOVED_ENV)} "
                  f"({removed_settings()}); GPU rows in this process")
        self.echo(self.COLS)
        self.echo("-" * len(self.COLS))

    def row(self, c, times: dict, ncpu: int) -> dict:
        best = {k: (min(v) if v else None) for k, v in ((k, times.get(k)) for k in _NAMES)}
        spread = {k: _spread(times.get(k)) for k in _NAMES}
        varies = {k: bool(spread[k] is not None and spread[k] + 1 > UNSTABLE) for k in _NAMES}
        ours = best["ours"]

        def ratio(k):
            if best[k] is None or ours is None or varies[k] or varies["ours"]:
                return None
            return best[k] / ours
        gf = c.flops / ours / 1e6 if c.flops and ours else None
        other = times.get("_other")
        wall = times.get("_wall") or 0.0
        share = other / (wall * ncpu) if other is not None and wall > 0 else None
        row = {
            "family": c.family, "op": c.op, "shape": c.shape, "ours_ms": ours, "numpy_ms": best["numpy"],
            "torch_ms": best["torch"], "speedup_numpy": ratio("numpy"), "speedup_torch": ratio("torch"),
            "gflops": gf, "effective_gflops": bool(c.effective and gf), "peak_fraction": gf / self.peak["gflops"]
            if gf else None, "peak_gflops": self.peak["gflops"], "gbps": c.bytes / ours / 1e6 if c.bytes and ours
            else None, "threads": self.threads, "isa": self.isa, "note": c.note,
            "timing": ("fastest" if self.stat == "min" else "median") + f" batch, best of {self.rounds} rounds",
            "rounds_ms": {k: times.get(k) for k in _NAMES if times.get(k)},
            "spread": {k: v for k, v in spread.items() if v is not None},
            "varies": [k for k in _NAMES if varies[k]], "other_cpu_share": share,
        }
        self.rows.append(row)
        self._effective |= row["effective_gflops"]
        self._varies |= bool(row["varies"])
        for k, v in spread.items():
            if v is not None:
                self._spreads[k].append(v)
        if other is None:
            self._other_known = False
        else:
            self._other += other
        self._wall += wall * ncpu

        def vs(k, width):
            if varies[k] or (varies["ours"] and best[k] is not None):
                return "varies".rjust(width)
            return _fmt(ratio(k), f">{width - 1}.2f") + ("x" if ratio(k) is not None else " ")
        pk = row["peak_fraction"]
        top = max((v for v in spread.values() if v is not None), default=None)
        mark = "*" if row["effective_gflops"] else " "
        self.echo(f"{c.op:<28} {c.shape:<30} {_fmt(ours, '>9.3f')} {_fmt(best['numpy'], '>9.3f')} "
                  f"{_fmt(best['torch'], '>9.3f')} {vs('numpy', 7)} {vs('torch', 8)} {_fmt(gf, '>7.1f')}{mark} "
                  f"{_fmt(pk and pk * 100, '>5.0f')}% {_fmt(row['gbps'], '>6.1f')} "
                  f"{_fmt(top and top * 100, '>5.0f')}% {_fmt(share and share * 100, '>5.0f')}%")
        return row

    def footer(self, steal0, steal1) -> None:
        echo = self.echo
        if self._effective:
            echo("* effective GFLOP/s: the FLOPs of the direct convolution (2 N K P Q C R S / groups) per our time; "
                 "these rows run Winograd F(2x2, 3x3), 2.25x fewer multiplications, so %peak can pass 100%")
        if self._varies:
            echo(f"varies: that library's rounds differed by more than {UNSTABLE:.0f}x (rounds_ms in --json), so no "
                 "ratio is printed; other processes were probably busy (column 'other'): run again")
        parts = [f"{_NAMES[k]} {100 * median(v):.0f}%" for k, v in self._spreads.items() if v]
        if parts:
            echo(f"spread: max/min - 1 of a library's {self.rounds} rounds (largest in the row); median over rows: "
                 + ", ".join(parts))
        if self._other_known and self._wall > 0:
            echo(f"other: CPU time other processes took while the row was timed, % of all CPUs; over the run "
                 f"{100 * self._other / self._wall:.0f}% ({self._other:.1f} CPU-s)")
        if steal0 and steal1 and steal1[1] > steal0[1]:
            echo(f"cpu time stolen by the hypervisor during the run: "
                 f"{100.0 * (steal1[0] - steal0[0]) / (steal1[1] - steal0[1]):.1f}%")
