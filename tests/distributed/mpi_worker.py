"""Runs under `mpirun -n 2` for tests/distributed/test_mpi.py (not collected by pytest).

    python mpi_worker.py train OUT.npz MODEL BUCKET_MB   data-parallel training; rank 0 saves the
                                                         parameters, the optimizer state and losses
    python mpi_worker.py overlap                         buckets start during backward, in order
    python mpi_worker.py die                             rank 1 exits before a collective
    python mpi_worker.py hang                            rank 1 never joins; the deadline aborts
    python mpi_worker.py raise                           rank 1 raises; the exception hook aborts
Each scenario checks what it can on every rank and exits 0 on success.
"""
import os
import sys
import time

import numpy as np

import fastlayers.distributed as dist
from fastlayers.demo.common import train_classifier
from fastlayers.demo.cnn import train_digits

EPOCHS, BATCH = 2, 32


def mlp_setup(seed=0):
    import fastlayers
    from fastlayers import data, optim
    from fastlayers.models import MLP
    X, y = data.make_dataset("spiral", 203, 0.2, seed=seed)  # 203: the last global batch splits unevenly
    fastlayers.manual_seed(seed)
    model = MLP(2, (32, 32), 3)
    opt = optim.Adam(model.parameters(), lr=0.01)
    return model, opt, X, y


def train(out, which, bucket_mb):
    os.environ["FASTLAYERS_BUCKET_CAP_MB"] = bucket_mb
    if which == "mlp":
        model, opt, X, y = mlp_setup()
        stats = train_classifier(model, opt, X, y, epochs=EPOCHS, batch_size=BATCH, seed=0, progress=False,
                                 distributed=True)
    else:
        res = train_digits(seed=0, progress=False, distributed=True, epochs=EPOCHS, batch_norm=False)
        model, opt, stats = res["model"], None, res
    flat = np.concatenate([p.data.ravel() for p in model.parameters()]).astype(np.float64)
    if opt is not None:
        st = opt.state_dict()["state"]
        flat = np.concatenate([flat] + [np.asarray(v, np.float64).ravel() for s in st.values()
                                        for v in s.values() if isinstance(v, np.ndarray)])
    hi, lo = dist.allreduce(flat, "max"), dist.allreduce(flat, "min")
    if not np.array_equal(hi, lo):
        dist.abort(f"parameters or optimizer state differ across ranks (max |diff| {np.abs(hi - lo).max()})")
    if dist.rank() == 0:
        np.savez(out, loss=stats["loss"], acc=stats["train_acc"], **model.state_dict())


def overlap():
    from fastlayers import nn
    model, opt, X, y = mlp_setup()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=32 * 32 * 4 / 2**20)  # 1024 floats
    assert ddp.num_buckets == 3, ddp.num_buckets  # [b3 w3 b2] [w2] [b1 w1]
    crit = nn.CrossEntropyLoss()
    share = slice(dist.rank() * 16, dist.rank() * 16 + 16)
    crit(ddp(X[share]), y[share])
    ddp.backward(crit.backward(), need_input_grad=False, weight=16)
    # every bucket started from a hook, inside backward: the later layers' while the first layer ran
    assert ddp.overlapped_buckets == ddp.num_buckets, ddp.overlapped_buckets
    ddp.detach()
    assert "backward" not in model[0].__dict__


def main():
    what = sys.argv[1]
    dist.init(timeout=float(os.environ.get("WORKER_TIMEOUT", "60")))
    if what == "train":
        train(*sys.argv[2:5])
    elif what == "overlap":
        overlap()
    elif what == "die":
        if dist.rank() == 1:
            os._exit(3)
        dist.allreduce(np.ones(4), what="allreduce after a rank died")
    elif what == "hang":
        if dist.rank() == 1:
            time.sleep(120)
        dist.allreduce(np.ones(4), what="allreduce with a rank that hangs")
    elif what == "raise":
        if dist.rank() == 1:
            raise RuntimeError("rank 1 failed on purpose")
        dist.allreduce(np.ones(4), what="allreduce with a rank that raised")
    print(f"rank {dist.rank()} ok", flush=True)


if __name__ == "__main__":
    main()
