"""pytest-benchmark glue: turns the shared cases of fastlayers._bench.<family> into benchmarks.

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest bench/ --benchmark-only
(those two variables slow NumPy's OpenBLAS on this machine; unset them only for benchmarks).
Each case yields up to three benchmarks (ours, numpy, torch) grouped by op and shape, so the
ratios in one group come from the same run.
"""
from __future__ import annotations

import importlib

import pytest


def parametrize_cases(family: str, quick: bool = False):
    mod = importlib.import_module(f"fastlayers._bench.{family}")
    params = []
    for c in mod.cases(quick):
        for impl in ("ours", "numpy", "torch"):
            fn = getattr(c, impl)
            if fn is not None:
                params.append(pytest.param(c, impl, id=f"{c.op}-{c.shape}-{impl}"))
    return pytest.mark.parametrize("case,impl", params)


def run_case(benchmark, case, impl):
    benchmark.group = f"{case.family}: {case.op} {case.shape}"
    benchmark.extra_info.update({"impl": impl, "flops": case.flops, "bytes": case.bytes})
    benchmark(getattr(case, impl))
