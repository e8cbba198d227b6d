"""MPI through mpi4py: init, rank and world size, collectives that never hang.

Every collective here is non-blocking underneath and is waited for with a deadline
(``init(timeout=...)``, default 300 s or ``$FASTLAYERS_DIST_TIMEOUT``): a rank that dies or
stops answering makes the others print what they were waiting for and ``Abort`` the job
instead of hanging. ``init()`` also turns an unhandled exception on any rank into an abort.
Without mpi4py (``pip install "fastlayers[mpi]"``) every entry point raises ImportError.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

INSTALL_HINT = 'pip install "fastlayers[mpi]"   (mpi4py and an MPI library, e.g. the mpich wheel)'

_state = {"comm": None, "timeout": 300.0}


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"fastlayers.distributed needs mpi4py and an MPI library: {INSTALL_HINT} ({exc})") from None
    return MPI


def is_available() -> bool:
    """Whether mpi4py imports and finds an MPI library."""
    try:
        _mpi()
    except (ImportError, RuntimeError):
        return False
    return True


def init(timeout: float | None = None):
    """Initialises MPI (once) and returns COMM_WORLD. timeout: seconds any collective may wait
    before the job is aborted (default $FASTLAYERS_DIST_TIMEOUT or 300). Run under
    `mpirun -n N ...`; started alone it is a world of one."""
    MPI = _mpi()
    if timeout is None:
        timeout = float(os.environ.get("FASTLAYERS_DIST_TIMEOUT", _state["timeout"]))
    if not timeout > 0:
        raise ValueError(f"timeout: expected a positive number of seconds, got {timeout}")
    _state["timeout"] = float(timeout)
    if _state["comm"] is None:
        comm = MPI.COMM_WORLD
        _state["comm"] = comm
        if comm.Get_size() > 1:
            _install_abort_on_exception(comm)
    return _state["comm"]


def _install_abort_on_exception(comm) -> None:
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.write(f"fastlayers.distributed: rank {comm.Get_rank()} raised {kind.__name__}; aborting the job\n")
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = hook


def comm():
    """COMM_WORLD (initialising MPI on first use)."""
    return _state["comm"] if _state["comm"] is not None else init()


def rank() -> int:
    return comm().Get_rank()


def world_size() -> int:
    return comm().Get_size()


def is_root(root: int = 0) -> bool:
    return rank() == root


def abort(message: str, code: int = 1) -> None:
    """Prints message (with this rank) to stderr and aborts every rank of the job."""
    sys.stderr.write(f"fastlayers.distributed: rank {rank()}: {message}; aborting the job\n")
    sys.stderr.flush()
    comm().Abort(code)


def wait(requests, what: str) -> None:
    """Waits for MPI requests, polling (which also drives MPI's progress), until the deadline;
    past it the job is aborted, naming `what`."""
    MPI = _mpi()
    if not requests:
        return
    deadline = time.monotonic() + _state["timeout"]
    polls = 0
    while not MPI.Request.Testall(requests):
        polls += 1
        if polls > 200:  # short waits spin; long ones sleep between polls
            if time.monotonic() > deadline:
                abort(f"{what} did not complete within {_state['timeout']:g} s (a rank died or stopped)")
            time.sleep(5e-5 if polls < 2000 else 1e-3)


def allreduce(array, op: str = "sum", what: str = "allreduce") -> np.ndarray:
    """The element-wise sum (op='sum') or maximum ('max') of a float/int array over all ranks,
    as a new array."""
    MPI = _mpi()
    ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
    if op not in ops:
        raise ValueError(f"op: expected one of {sorted(ops)}, got {op!r}")
    src = np.ascontiguousarray(array)
    out = np.empty_like(src)
    wait([comm().Iallreduce(src, out, op=ops[op])], what)
    return out


def barrier() -> None:
    wait([comm().Ibarrier()], "barrier")


def broadcast_arrays(arrays, root: int = 0, what: str = "broadcast") -> None:
    """Overwrites each C-contiguous array, in place, with root's copy."""
    c = comm()
    if not 0 <= root < c.Get_size():
        raise ValueError(f"root: expected a rank in [0, {c.Get_size()}), got {root}")
    reqs = []
    for a in arrays:
        if not isinstance(a, np.ndarray) or not a.flags.c_contiguous or not a.flags.writeable:
            raise TypeError(f"{what}: expected writeable C-contiguous NumPy arrays, got {type(a).__name__}")
        if a.size:
            reqs.append(c.Ibcast(a, root=root))
    wait(reqs, what)


def broadcast_parameters(model, root: int = 0) -> None:
    """Copies root's parameters and buffers into every rank's model, in place (call once
    after building the model, before training)."""
    arrays = [p.data for p in model.parameters()] + [b for _, b in model.named_buffers()]
    for a in arrays:
        if not isinstance(a, np.ndarray):
            raise TypeError("broadcast_parameters: parameters on a GPU are not supported; keep the model on the CPU")
    broadcast_arrays(arrays, root, "broadcast_parameters")

