"""pytest-benchmark rows for the pool family (cases from fastlayers._bench.pool):
    PYTHONPATH=python python3 -m pytest bench/bench_pool.py --benchmark-only"""
import pytest

from fastlayers._bench import pool

CASES = pool.cases(quick=False)


@pytest.mark.parametrize("impl", ["ours", "numpy", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.op} {c.shape}" for c in CASES])
def test_pool(benchmark, case, impl):
    fn = getattr(case, impl)
    if fn is None:
        pytest.skip(f"no {impl} formulation")
    benchmark.group = f"{case.op} {case.shape}"
    benchmark(fn)
