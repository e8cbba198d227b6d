"""pytest-benchmark rows for the conv family (cases from fastlayers._bench.conv):
    PYTHONPATH=python python3 -m pytest bench/bench_conv.py --benchmark-only"""
import pytest

from fastlayers._bench import conv

CASES = conv.cases(quick=False)


@pytest.mark.parametrize("impl", ["ours", "numpy", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[c.op for c in CASES])
def test_conv(benchmark, case, impl):
    fn = getattr(case, impl)
    if fn is None:
        pytest.skip(f"no {impl} formulation")
    benchmark.group = f"{case.op} {case.shape}"
    benchmark(fn)
