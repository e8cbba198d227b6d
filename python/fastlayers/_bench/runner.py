"""`fastlayers bench`: runs the benchmark cases and prints op | shape | ours | NumPy | PyTorch."""
from __future__ import annotations

import importlib
import json
import time

from . import FAMILIES
from .common import steal_ticks, time_ms, wait_quiet

DEVICES = ("cpu", "cuda")


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
    p.add_argument("--threads", type=int, help="thread count for fastlayers, NumPy and PyTorch")
    p.add_argument("--quick", action="store_true", help="smaller shapes, shorter timing")
    p.add_argument("--isa", help="force an ISA level for fastlayers (scalar, avx2, avx512)")
    p.add_argument("--stat", choices=("min", "median"), default="min",
                   help="which batch of calls a round reports: the fastest (default) or the median")


def f(v, fmt: str) -> str:
    """Formats v, or a right-aligned '-' for a missing figure."""
    width = int("".join(ch for ch in fmt.split(".")[0] if ch.isdigit()) or 1)
    return format(v, fmt) if v is not None else "-".rjust(width)


def time_case(c, min_time: float, rounds: int, stat: str = "min"):
    """Best of `rounds` interleaved rounds (ours, NumPy, PyTorch, ours, ...) of time_ms each,
    every round the fastest (stat="min") or the median of its batches of calls.

    Each library runs its own thread pool, whose workers keep spinning for a while after a call
    (OpenBLAS for about 100 ms): measured right after another library, an implementation would
    share the cores with those spinning threads. So every measurement starts once the process is
    idle (wait_quiet: the other pools asleep), and the rounds interleave so that no library is
    always measured in the same position."""
    best = [None, None, None]
    for _ in range(rounds):
        for k, fn in enumerate((c.ours, c.numpy, c.torch)):
            if fn is None:
                continue
            wait_quiet()
            ms = time_ms(fn, min_time / rounds, stat=stat)
            best[k] = ms if best[k] is None else min(best[k], ms)
    return tuple(best)


def run(families=None, quick=False, threads=None, isa=None, echo=print, stat="min") -> list[dict]:
    import fastlayers
    if threads:
        fastlayers.set_num_threads(threads)
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(threads)
        except ImportError:
            pass
    if isa:
        fastlayers.set_isa(isa)
    nthreads = fastlayers.get_num_threads()
    min_time = 0.1 if quick else 0.4
    # "% of peak" is against the FP32 FMA peak measured now, on this ISA level and thread count
    # (a register-only FMA loop on every thread; csrc/ops/peak.h).
    peak = max(fastlayers._core.measure_fma_peak_gflops(0.3) for _ in range(3))
    steal0 = steal_ticks()
    rows = []
    hdr = f"{'op':<26} {'shape':<30} {'ours ms':>9} {'numpy ms':>9} {'torch ms':>9} {'vs np':>7} {'vs torch':>8} {'GF/s':>7} {'%peak':>6} {'GB/s':>6}"
    echo(f"fastlayers bench: isa={fastlayers.get_isa()} threads={nthreads} "
         f"measured FP32 FMA peak={peak:.0f} GFLOP/s timing={stat} batch")
    echo(hdr)
    echo("-" * len(hdr))
    for fam in families or FAMILIES:
        mod = importlib.import_module(f"fastlayers._bench.{fam}")
        for c in mod.cases(quick):
            ours, np_ms, th_ms = time_case(c, min_time, rounds=1 if quick else 3, stat=stat)
            gf = c.flops / ours / 1e6 if c.flops else None
            row = {
                "family": c.family, "op": c.op, "shape": c.shape, "ours_ms": ours, "numpy_ms": np_ms,
                "torch_ms": th_ms, "speedup_numpy": np_ms / ours if np_ms else None,
                "speedup_torch": th_ms / ours if th_ms else None, "gflops": gf,
                "peak_fraction": gf / peak if gf else None, "peak_gflops": peak,
                "gbps": c.bytes / ours / 1e6 if c.bytes else None, "threads": nthreads,
                "isa": fastlayers.get_isa(), "note": c.note, "timing": ("fastest" if stat == "min" else "median") + " batch, best of rounds",
            }
            rows.append(row)

            pk = row["peak_fraction"]
            echo(f"{c.op:<26} {c.shape:<30} {ours:>9.3f} {f(np_ms, '>9.3f')} {f(th_ms, '>9.3f')} "
                 f"{f(row['speedup_numpy'], '>6.2f')}x {f(row['speedup_torch'], '>7.2f')}x "
                 f"{f(gf, '>7.1f')} {f(pk and pk * 100, '>5.1f')}% {f(row['gbps'], '>6.1f')}")
    steal1 = steal_ticks()
    if steal0 and steal1 and steal1[1] > steal0[1]:
        echo(f"cpu time stolen by the hypervisor during the run: "
             f"{100.0 * (steal1[0] - steal0[0]) / (steal1[1] - steal0[1]):.1f}%")
    return rows


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
    rows = run(families, args.quick, args.threads, args.isa, stat=args.stat)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0
