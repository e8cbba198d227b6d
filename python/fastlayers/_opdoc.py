"""The op list of help(fastlayers.functional): every public op, grouped by the family module that
defines it, with the backends that run that family (the README's 'Ops and backends' table)."""
from __future__ import annotations

import textwrap

from . import _core

_CPU = "CPU: scalar reference, AVX2+FMA, AVX-512"
BACKENDS = {
    "activation": f"{_CPU}; CUDA",
    "gemm": f"{_CPU}; CUDA (FP32, opt-in TF32 tensor cores)",
    "conv": f"{_CPU}; CUDA (implicit GEMM)",
    "pool": "CPU: scalar reference, AVX2+FMA and AVX-512 (forward; backward of max 2x2 and avg strides 1-2); CUDA",
    "norm": f"{_CPU}; CUDA",
    "loss": "CPU: scalar reference, AVX2+FMA and AVX-512 (cross-entropy); CUDA (reduced on the device)",
    "dropout": f"{_CPU}; CUDA (the CPU's mask)",
    "rnn": f"{_CPU}; CUDA (fused gate kernels on FP32 GEMMs)",
    "attention": f"{_CPU}; CUDA (FlashAttention-2 style, FP32, head dims up to 256)",
    "layer_norm": f"{_CPU}; CUDA",
    "embedding": f"{_CPU}; CUDA (deterministic scatter-add)",
    "resample": "CPU: scalar reference, AVX2+FMA and AVX-512 (bilinear and pad forwards); CUDA",
}


def op_table(namespace: dict) -> str:
    """The text appended to the functional package's docstring: one paragraph per family."""
    families: dict = {}
    for name in namespace["__all__"]:
        module = getattr(namespace[name], "__module__", "") or ""
        families.setdefault(module.rsplit(".", 1)[-1], []).append(name)
    cuda = "compiled into this build" if _core.cuda_built else "not compiled into this build"
    lines = ["", f"Ops by family, with the backends that run them (CUDA kernels: {cuda}; the README says which",
             "have run on a real GPU):", ""]
    for family, names in families.items():
        lines.append(f"{family} -- {BACKENDS.get(family, 'CPU; see the README')}")
        lines += textwrap.wrap(", ".join(names), 92, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines) + "\n"
