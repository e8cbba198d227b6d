"""Shared fixtures: every test that takes `isa` runs once per ISA level this CPU supports
(and the reference kernels as 'scalar'); `torch` skips when PyTorch is not importable;
`cuda` marks skip without a usable GPU."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import _core

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
    reason = _core.cuda_probe()[1]
    skip = pytest.mark.skip(reason=f"no usable GPU: {reason}")
    for item in items:
        if item.get_closest_marker("cuda") is not None:  # not item.keywords: it holds "test_cuda" too
            item.add_marker(skip)
