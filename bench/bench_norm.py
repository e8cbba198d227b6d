"""pytest-benchmark rows for the norm family (cases from fastlayers._bench.norm):
    PYTHONPATH=python python3 -m pytest bench/bench_norm.py --benchmark-only"""
import pytest

from fastlayers._bench import norm

CASES = norm.cases(quick=False)


@pytest.mark.parametrize("impl", ["ours", "numpy", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.op} {c.shape}" for c in CASES])
def test_norm(benchmark, case, impl):
    fn = getattr(case, impl)
    if fn is None:
        pytest.skip(f"no {impl} formulation")
    benchmark.group = f"{case.op} {case.shape}"
    benchmark(fn)
