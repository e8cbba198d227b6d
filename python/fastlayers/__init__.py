"""fastlayers: hand-written SIMD/threaded C++ and CUDA kernels for deep-learning layers.

NumPy arrays in, NumPy arrays out; PyTorch's layer names, arguments and weight layouts.
"""
from __future__ import annotations

from . import _core
from ._info import info
from . import functional
from . import cuda, nn, optim
from ._random import manual_seed
from .serialization import load, save

__version__ = "0.1.0"

__all__ = ["functional", "cuda", "nn", "optim", "data", "models", "manual_seed", "save", "load", "info",
           "get_num_threads", "set_num_threads", "get_isa", "set_isa",
           "available_isas", "__version__"]


def get_num_threads() -> int:
    """Threads every kernel uses: fastlayers' own pool, sized at import from OMP_NUM_THREADS (a
    positive integer) or else the CPUs the process may run on; set_num_threads changes it."""
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Sets the thread count for every later kernel call, from any Python thread.

    n: a positive integer (a Python or NumPy int); anything else (2.7, "2", True) is a TypeError
    rather than a silent truncation, and n < 1 a ValueError."""
    import numbers
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n: expected an integer thread count, got {type(n).__name__} {n!r}")
    if not 1 <= n <= 2**31 - 1:
        raise ValueError(f"n: expected a thread count >= 1, got {n}")
    _core.set_num_threads(int(n))


def get_isa() -> str:
    """The instruction set kernels dispatch on now: 'scalar', 'avx2' or 'avx512'."""
    return _core.isa_current()


def available_isas() -> list[str]:
    """ISA levels this CPU supports, lowest first (each can be forced with set_isa)."""
    return list(_core.isa_available())


def set_isa(name: str) -> None:
    """Forces an ISA level at or below the CPU's best (as FASTLAYERS_ISA does at import).

    Meant for tests and benchmarks that compare kernel paths; 'scalar' runs the reference kernels.
    """
    _core.set_isa(str(name))


def __getattr__(name):
    # data and models load on first use (data pulls in scikit-learn only for load_digits)
    if name in ("data", "models"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastlayers' has no attribute {name!r}")


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
