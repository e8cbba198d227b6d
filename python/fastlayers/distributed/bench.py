"""Benchmark of fastlayers.distributed, run under MPI:

    mpirun -n 2 python -m fastlayers.distributed.bench allreduce [--out FILE.json]
    mpirun -n N python -m fastlayers.distributed.bench step [--model cnn|mlp] [--batch 256]

`allreduce`: time of one gradient all-reduce (Iallreduce + our polling wait, and MPI's blocking
Allreduce) over float32 buffers from 4 KiB to 64 MiB; bandwidth as algorithm bandwidth
(bytes / time) and bus bandwidth (2 (N-1)/N bytes / time, what a ring moves per rank).
`step`: one data-parallel training step (forward, backward with the overlapped all-reduce,
Adam) on a fixed global batch, split over the ranks; the median of the timed steps, the
samples per second over all ranks, and the share of the step spent waiting in the all-reduce.
Rank 0 prints the table (and writes --out as JSON).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from . import runtime as _c


def _time(fn, repeat: int) -> float:
    _c.barrier()
    fn()
    ts = []
    for _ in range(repeat):
        _c.barrier()
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(_c.allreduce(np.array(ts), "max")))


def bench_allreduce(repeat: int) -> list:
    MPI, comm = _c._mpi(), _c.comm()
    world, rows = comm.Get_size(), []
    for nbytes in [2**k for k in range(12, 27, 2)]:
        send = np.ones(nbytes // 4, np.float32)
        recv = np.empty_like(send)
        reps = max(3, min(repeat, int(2e8 // nbytes)))
        t_nb = _time(lambda: _c.wait([comm.Iallreduce(send, recv, op=MPI.SUM)], "bench"), reps)
        t_b = _time(lambda: comm.Allreduce(send, recv, op=MPI.SUM), reps)
        bus = 2 * (world - 1) / world
        rows.append({"bytes": nbytes, "iallreduce_us": t_nb * 1e6, "allreduce_us": t_b * 1e6,
                     "alg_GBps": nbytes / t_nb / 1e9, "bus_GBps": bus * nbytes / t_nb / 1e9})
    return rows


def _model(name):
    import fastlayers
    from ..models import CNN, MLP
    fastlayers.manual_seed(0)
    if name == "cnn":
        return CNN(1, 10, 8, channels=(16, 32), kernel_size=3, padding="same", pool="max", activation="relu",
                   batch_norm=False, hidden=(64,)), (1, 8, 8)
    return MLP(64, (512, 512), 10), (64,)


def bench_step(model_name: str, batch: int, steps: int, bucket_mb: float) -> dict:
    from .. import nn, optim
    from .ddp import DistributedDataParallel
    world, me = _c.world_size(), _c.rank()
    if batch % world:
        raise ValueError(f"--batch: expected a multiple of the world size {world}, got {batch}")
    model, shape = _model(model_name)
    ddp = DistributedDataParallel(model, bucket_cap_mb=bucket_mb)
    opt, crit = optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    rng = np.random.default_rng(me)
    local = batch // world
    X = rng.standard_normal((local, *shape)).astype(np.float32)
    y = rng.integers(0, 10, local)
    waits, times = [], []
    reduce = ddp.reduce_gradients

    def timed_reduce(weight=None):
        t = time.perf_counter()
        reduce(weight)
        waits.append(time.perf_counter() - t)
    ddp.reduce_gradients = timed_reduce
    for i in range(steps + 3):
        _c.barrier()
        t = time.perf_counter()
        opt.zero_grad()
        crit(ddp(X), y)
        ddp.backward(crit.backward(), need_input_grad=False, weight=local)
        opt.step()
        times.append(time.perf_counter() - t)
    times, waits = np.array(times[3:]), np.array(waits[3:])
    t_step = float(np.median(_c.allreduce(times, "max")))
    wait_share = float(np.median(_c.allreduce(waits / times, "max")))
    return {"model": model_name, "params": model.num_parameters(), "world": world, "global_batch": batch,
            "step_ms": t_step * 1e3, "samples_per_s": batch / t_step, "allreduce_wait_share": wait_share,
            "buckets": ddp.num_buckets}


def main(argv=None) -> int:
    import fastlayers
    p = argparse.ArgumentParser(prog="python -m fastlayers.distributed.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["allreduce", "step"])
    p.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    p.add_argument("--batch", type=int, default=256, help="global batch (step)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--bucket-mb", type=float, default=25.0)
    p.add_argument("--out", help="write the rows as JSON (rank 0)")
    args = p.parse_args(argv)
    _c.init()
    head = (f"world {_c.world_size()}, {fastlayers.get_num_threads()} threads per rank, "
            f"{_c._mpi().Get_library_version().splitlines()[0].strip()}")
    if args.what == "allreduce":
        rows = bench_allreduce(args.repeat)
        lines = [head, f"{'bytes':>10} {'Iallreduce us':>14} {'Allreduce us':>13} {'alg GB/s':>9} {'bus GB/s':>9}"]
        lines += [f"{r['bytes']:>10} {r['iallreduce_us']:>14.1f} {r['allreduce_us']:>13.1f} {r['alg_GBps']:>9.2f} "
                  f"{r['bus_GBps']:>9.2f}" for r in rows]
    else:
        rows = [bench_step(args.model, args.batch, args.steps, args.bucket_mb)]
        r = rows[0]
        lines = [head, f"{r['model']} ({r['params']:,} parameters, {r['buckets']} buckets), global batch "
                       f"{r['global_batch']}: step {r['step_ms']:.2f} ms, {r['samples_per_s']:,.0f} samples/s, "
                       f"all-reduce wait {100 * r['allreduce_wait_share']:.1f}% of the step"]
    if _c.rank() == 0:
        print("\n".join(lines))
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"header": head, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
