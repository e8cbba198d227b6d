"""Layer-norm benchmarks ((8192, 1024) float32): ours, NumPy, PyTorch:
    PYTHONPATH=python python -m pytest bench/bench_layer_norm.py --benchmark-only"""
from common import parametrize_cases, run_case


@parametrize_cases("layer_norm")
def test_layer_norm(benchmark, case, impl):
    run_case(benchmark, case, impl)
