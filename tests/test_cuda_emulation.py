"""The CUDA kernels checked without a GPU: tools/cuda_emu compiles csrc/cuda/{activation,gemm,
copy,optim,pool,norm,conv,loss,dropout}.cu for the host against an emulated CUDA runtime (one fiber per CUDA thread, real
barriers, the tensor-core fragment layout) and compares every kernel with the CPU reference
kernels -- indexing, tiling, edges, barriers. Performance and CUDA's own float rounding are
only checked on a GPU (tests/test_cuda.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "tools" / "cuda_emu" / "run.py"


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="needs a C++17 host compiler")
@pytest.mark.skipif(not RUN.exists(), reason="needs the source tree (tools/cuda_emu)")
def test_cuda_kernels_under_host_emulation():
    r = subprocess.run([sys.executable, str(RUN)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("ok: ") and last.endswith(" 0 failures"), last
    assert int(last.split()[1]) > 1150  # every kernel family ran
    layers = [line for line in r.stdout.splitlines() if line.startswith("layers: ")]
    assert layers and int(layers[0].split()[1]) >= 140, layers  # optim, pool, norm, conv
    loss = [line for line in r.stdout.splitlines() if line.startswith("loss: ")]
    assert loss and int(loss[0].split()[1]) >= 600, loss  # loss, dropout


@pytest.mark.skipif(not RUN.exists(), reason="needs the source tree (tools/cuda_emu)")
def test_gpu_tests_on_the_host_stand_in():
    """The GPU-only tests of tests/test_cuda.py (device arrays, DLPack, allocator, kernels through
    fastlayers.cuda) run on the host stand-in (tools/cuda_emu/fake_gpu_plugin.py): their test code
    and the Python device layer are checked here, the kernels on a GPU."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tools" / "cuda_emu")] +
                                                     [p for p in sys.path if p]))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "fake_gpu_plugin",
                        str(ROOT / "tests" / "test_cuda.py"), "-m", "cuda and not large"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=str(ROOT))
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert " passed" in r.stdout.strip().splitlines()[-1]
