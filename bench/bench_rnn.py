"""RNN benchmarks (LSTM and GRU T=100 B=32 I=128 H=256 forward and forward+backward, a
char-LSTM training step): ours and PyTorch."""
from common import parametrize_cases, run_case


@parametrize_cases("rnn")
def test_rnn(benchmark, case, impl):
    run_case(benchmark, case, impl)
