"""Activation benchmarks (16M float32 into an existing array): ours, NumPy, PyTorch."""
from common import parametrize_cases, run_case


@parametrize_cases("activation")
def test_activation(benchmark, case, impl):
    run_case(benchmark, case, impl)
