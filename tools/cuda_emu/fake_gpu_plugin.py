"""pytest plugin: runs the GPU-marked tests of tests/test_cuda.py and tests/test_cuda_conv.py without a GPU, on the host-memory
stand-in for the CUDA entry points of tests/test_cuda_glue.py (CPU kernels behind the Python
device layer). It checks the test code and the Python layer, not the CUDA kernels (run.py
checks those). Tests that need PyTorch with CUDA still skip.

    PYTHONPATH=python:tools/cuda_emu python -m pytest -p fake_gpu_plugin tests/test_cuda.py \
        tests/test_cuda_conv.py -m "cuda and not large"
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))

import test_cuda_conv as layers  # noqa: E402
import test_cuda_glue as glue  # noqa: E402

from fastlayers import _core, _cuda_activation, _cuda_conv, _cuda_norm, _cuda_optim, _cuda_pool, cuda  # noqa: E402


class _Core(layers.LayerCore):
    """The stand-in, plus the allocator statistics some GPU tests read."""

    def __init__(self):
        super().__init__()
        self.stats = {"in_use": 0, "cached": 0, "peak": 0, "mallocs": 0}

    def cuda_alloc(self, nbytes, device):
        self.stats["in_use"] += nbytes
        return glue.HostMem(nbytes)

    def cuda_memory_stats(self, device):
        return dict(self.stats)

    def cuda_empty_cache(self):
        self.stats["cached"] = 0


_fake = _Core()
_core.cuda_probe = lambda: (1, "")  # conftest then keeps the cuda-marked tests
for _mod in (cuda, _cuda_activation, _cuda_conv, _cuda_norm, _cuda_optim, _cuda_pool):
    _mod._core = _fake
