"""Attention benchmarks (B=1, H=8, D=64, T=4096, causal and not, forward and forward+backward):
ours against PyTorch's SDPA on the CPU, and the extra memory of the fused op at T=8192:
    PYTHONPATH=python python -m pytest bench/bench_attention.py --benchmark-only
(ratios in one table: `fastlayers bench --family attention --threads 2`)."""
from common import parametrize_cases, run_case

from fastlayers._bench import attention


@parametrize_cases("attention")
def test_attention(benchmark, case, impl):
    run_case(benchmark, case, impl)


def test_attention_extra_memory():
    """At most 32 MiB beyond inputs and outputs at T=8192 (2 threads), forward and backward."""
    for causal in (False, True):
        fwd, bwd = attention.extra_memory_mib(8192, causal, threads=2)
        print(f"T=8192 causal={causal}: forward {fwd:.1f} MiB, backward {bwd:.1f} MiB beyond inputs and outputs")
        assert fwd <= 32 and bwd <= 32
