"""pytest-benchmark: one training step (forward + cross-entropy + backward + Adam) of an MLP and of
LeNet-5, fastlayers and PyTorch CPU on the same weights and batch (cases from fastlayers._bench.train).

    python -m pytest bench/bench_train.py --benchmark-only
"""
from __future__ import annotations

import pytest

from fastlayers._bench.train import cases

CASES = cases(quick=True)
IDS = [c.op.replace("train step ", "").replace(" ", "_") for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_train_step_fastlayers(benchmark, case):
    benchmark.group = case.op
    benchmark(case.ours)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_train_step_torch(benchmark, case):
    if case.torch is None:
        pytest.skip("PyTorch is not installed")
    benchmark.group = case.op
    benchmark(case.torch)
