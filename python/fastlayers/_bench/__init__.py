"""Benchmark cases shared by `fastlayers bench` and the pytest-benchmark files in bench/.

Each family module defines ``cases(quick: bool) -> list[Case]``; FAMILIES maps family names to
those modules. A case times our op, NumPy's best formulation and PyTorch's (when importable)
on the same inputs in the same run.
"""
FAMILIES = ["activation", "gemm", "pool", "norm", "conv", "attention", "layer_norm", "rnn", "train", "cuda", "cuda_conv"]  # cuda*: no cases without a GPU
