"""Data-parallel training over MPI (mpi4py), for when one machine is not enough.

Run every rank with ``mpirun -n N python train.py`` (or ``mpirun -n N fastlayers demo cnn
--distributed``); each rank builds the same model, wraps it in DistributedDataParallel and
reads its own shard of every global batch (``fastlayers.data.batches(..., num_replicas=
world_size(), rank=rank())``). Needs ``pip install "fastlayers[mpi]"``.
"""
from .runtime import (INSTALL_HINT, abort, allreduce, barrier, broadcast_arrays, broadcast_parameters, comm, init,
                   is_available, is_root, rank, world_size)
from .ddp import DistributedDataParallel

__all__ = ["init", "is_available", "comm", "rank", "world_size", "is_root", "abort", "allreduce", "barrier",
           "broadcast_arrays", "broadcast_parameters", "DistributedDataParallel", "INSTALL_HINT"]
