"""Shared fixtures: every test that takes `isa` runs once per ISA level this CPU supports
(and the reference kernels as 'scalar'); every test that takes `backend` runs on those and on
the CUDA backend -- a real GPU where one is usable, else the host stand-in of tools/cuda_emu
(the whole Python device path on host memory and the CPU kernels); `torch` skips when PyTorch
is not importable; `cuda` marks skip without a usable GPU."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import fastlayers
from fastlayers import _core

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "cuda_emu"))

ISAS = fastlayers.available_isas()
ALL_ISAS = ["scalar", "avx2", "avx512"]


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Runs the test on one ISA level, skipping levels this CPU lacks; restores the level after."""
    if request.param not in ISAS:
        pytest.skip(f"CPU lacks {request.param}")
    before = fastlayers.get_isa()
    fastlayers.set_isa(request.param)
    yield request.param
    fastlayers.set_isa(before)


class Backend:
    """Where a backend-parametrised test runs: put() moves inputs there, get() brings results back."""

    def __init__(self, name: str, isa: str):
        self.name, self.isa = name, isa
        self.device = name == "cuda"

    def put(self, x):
        return fastlayers.cuda.to_device(x) if self.device else x

    def put_like(self, x):
        """x on this backend keeping its dtype (indices, targets); float data is float32 there."""
        if not self.device:
            return x
        from fastlayers._backend.device import DEVICE
        return DEVICE.from_host(np.asarray(x), fastlayers.cuda.empty((0,)))

    @property
    def F(self):
        """fastlayers.functional as seen from this backend: NumPy array arguments (also inside
        lists and tuples) go to the backend (float data as float32, integer data keeps its dtype),
        results come back as NumPy arrays, so an oracle test runs unchanged on every backend."""
        return _BackendFunctional(self)

    def get(self, y):
        if y is None or isinstance(y, (float, int, np.ndarray)):
            return y
        if isinstance(y, (tuple, list)):
            return type(y)(self.get(v) for v in y)
        return y.numpy() if hasattr(y, "numpy") else y

    def __repr__(self) -> str:
        return f"Backend({self.name})"


class _BackendFunctional:
    def __init__(self, backend: Backend):
        self._b = backend

    def __getattr__(self, name):
        fn = getattr(fastlayers.functional, name)
        if not self._b.device:
            return fn

        def call(*args, **kwargs):
            moved = []  # (host array, its device copy): float32 arrays are copied back after the call,
                        # so in-place updates (running statistics, optimizer state) reach the caller

            def arg(a):
                if isinstance(a, (list, tuple)):  # weight lists, (h, c) pairs
                    return type(a)(arg(v) for v in a)
                if not isinstance(a, np.ndarray):
                    return a
                d = self._b.put(a) if a.dtype.kind == "f" else self._b.put_like(a)
                if a.dtype == np.float32 and a.flags.writeable and a.flags.c_contiguous:
                    moved.append((a, d))
                return d
            res = fn(*(arg(a) for a in args), **{k: arg(v) for k, v in kwargs.items()})
            for host, dev in moved:
                host[...] = dev.numpy()
            return self._b.get(res)
        return call


@pytest.fixture(params=ALL_ISAS + [pytest.param("cuda", marks=pytest.mark.cuda)])
def backend(request):
    """One of: each ISA level of the CPU backend, or the CUDA backend (GPU or host stand-in)."""
    if request.param != "cuda":
        if request.param not in ISAS:
            pytest.skip(f"CPU lacks {request.param}")
        before = fastlayers.get_isa()
        fastlayers.set_isa(request.param)
        yield Backend("cpu", request.param)
        fastlayers.set_isa(before)
        return
    yield from _cuda_backend()


@pytest.fixture
def device_backend():
    """The CUDA backend only: a real GPU where one is usable, else the host stand-in."""
    yield from _cuda_backend()


def _cuda_backend():
    if _cuda_usable():
        yield Backend("cuda", "gpu")
        return
    from standin import HostStandIn
    with HostStandIn():
        yield Backend("cuda", "stand-in")


@pytest.fixture
def torch():
    """PyTorch for parity, on one thread. torch 2.13.0's threaded tanh (2 threads, the Intel Xeon
    VM) now and then returns the second thread's half 9e-5 off float64 (3 and 5 fresh processes
    in 40, with and without fastlayers imported; never on one thread in 60)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _cuda_usable() -> bool:
    count, _ = _core.cuda_probe()
    return count > 0


def pytest_collection_modifyitems(config, items):
    if _cuda_usable():
        return
    from fastlayers._backend.device import unavailable_reason  # 'no NVIDIA driver found', as fastlayers info says
    skip = pytest.mark.skip(reason=f"no usable GPU: {unavailable_reason()}")
    for item in items:
        if item.get_closest_marker("cuda") is None:  # not item.keywords: it holds "test_cuda" too
            continue
        # the backend fixtures fall back to the host stand-in: those tests run everywhere
        if not {"backend", "device_backend"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Says loudly how many PyTorch parity tests were skipped because torch is not importable,
    and the one command that runs them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple) and "could not import 'torch'" in str(r.longrepr[-1])]
    if skipped:
        terminalreporter.write_sep("!", f"{len(skipped)} PyTorch parity test{'s' * (len(skipped) != 1)} SKIPPED: "
                                   "torch is not installed",
                                   red=True, bold=True)
        terminalreporter.write_line('run them: pip install torch==2.13.0 && python -m pytest -q   '
                                    '(the CPU build; PyTorch is the test oracle only)', red=True, bold=True)
