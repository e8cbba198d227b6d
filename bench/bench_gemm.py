"""pytest-benchmark rows for the GEMM family (cases from fastlayers._bench.gemm):
    PYTHONPATH=python python3 -m pytest bench/bench_gemm.py --benchmark-only
NumPy's OpenBLAS reads OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; unset them for its best kernel
(`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...`)."""
import pytest

from fastlayers._bench import gemm

CASES = gemm.cases(quick=False)


@pytest.mark.parametrize("impl", ["ours", "numpy", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.op} {c.shape}" for c in CASES])
def test_gemm(benchmark, case, impl):
    fn = getattr(case, impl)
    if fn is None:
        pytest.skip(f"no {impl} formulation")
    benchmark.group = f"{case.op} {case.shape}"
    benchmark(fn)
