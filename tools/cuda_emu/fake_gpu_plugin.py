"""pytest plugin: runs the GPU-marked tests without a GPU, on the host stand-in of the CUDA
backend (standin.py: host memory, cuda_<op> -> the CPU <op>). It checks the test code and the
Python device layer, not the CUDA kernels (run.py checks those). Tests that need PyTorch with
CUDA still skip.

    PYTHONPATH=python:tools/cuda_emu python -m pytest -p fake_gpu_plugin tests/test_cuda.py -m "cuda and not large"
"""
from fastlayers import _core

from standin import HostStandIn

_standin = HostStandIn().install()
_core_probe = _core.cuda_probe
_core.cuda_probe = lambda: (1, "")  # conftest then keeps the cuda-marked tests
