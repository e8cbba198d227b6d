"""The thread pool under faults and under concurrent Python callers (issue 22, hardening).

- An exception in a range of parallel_for (std::bad_alloc from a scratch buffer, on a worker
  thread or on the caller) reaches Python as MemoryError and leaves the pool usable.
- A convolution whose im2col scratch cannot be allocated (address space capped in a child
  process) raises MemoryError instead of ending the process.
- Eight Python threads calling every CPU family at once get exactly the serial results.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
from fastlayers import _core



@pytest.fixture
def two_threads():
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(2)
    yield
    fastlayers.set_num_threads(before)


@pytest.mark.parametrize("fail_at", [0, 500, 999])
def test_exception_in_a_range_is_memoryerror_and_the_pool_survives(two_threads, fail_at, rng):
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 300)).astype(np.float32)
    want = a.astype(np.float64) @ b
    for _ in range(20):  # the same pool, job after job
        with pytest.raises(MemoryError):
            _core._fault_in_parallel_range(1000, fail_at)
        np.testing.assert_allclose(F.matmul(a, b), want, rtol=1e-4, atol=1e-3)


WORKER_FAULT = r"""
import time
import numpy as np
import fastlayers, fastlayers.functional as F
from fastlayers import _core
fastlayers.set_num_threads(2)
a = np.ones((256, 256), np.float32)
for i in range(20):
    if i % 5 == 0:
        time.sleep(0.2)   # the worker falls asleep: woken, it still takes the range the caller left
    try:
        _core._fault_in_parallel_range(1000, -1)   # the range a worker runs throws
        raise SystemExit("no MemoryError")
    except MemoryError:
        pass
    assert float(F.matmul(a, a)[0, 0]) == 256.0
print("ok")
"""


def test_every_range_failing_on_the_workers_too_is_memoryerror():
    """Before the pool caught exceptions, a worker's bad_alloc ended the process (std::terminate),
    and a caller's left the caller marked as inside a parallel region for good."""
    r = subprocess.run([sys.executable, "-c", WORKER_FAULT], capture_output=True, text=True, timeout=120,
                       env=_child_env())
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stdout, r.stderr[-2000:])


def test_fault_hook_checks_its_arguments():
    with pytest.raises(ValueError, match="fail_at"):
        _core._fault_in_parallel_range(10, 10)
    with pytest.raises(ValueError, match="fail_at"):
        _core._fault_in_parallel_range(10, -2)


def _child_env():
    """The fastlayers under test (the source tree's, else the installed one) in a child process."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    pkg = os.path.dirname(os.path.dirname(fastlayers.__file__))
    env["PYTHONPATH"] = os.pathsep.join([pkg, env.get("PYTHONPATH", "")])
    return env


CHILD = r"""
import resource, sys
import numpy as np
import fastlayers, fastlayers.functional as F
fastlayers.set_num_threads(2)
x = np.ones((1, 4096, 12, 12), np.float32)
w = np.ones((1, 4096, 11, 11), np.float32)
F.conv2d(x[:, :, :11, :11], w)            # workers started, small scratch
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + (48 << 20), hard))
try:
    F.conv2d(np.ones((8, 4096, 40, 40), np.float32)[:, :, :, :], w)   # im2col wants > 48 MiB
except MemoryError:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    y = F.conv2d(x, w)
    assert abs(float(y[0, 0, 0, 0]) - 4096 * 121) < 1, y[0, 0, 0, 0]
    print("memoryerror, pool usable")
    sys.exit(0)
print("no error")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS and /proc")
def test_conv_scratch_allocation_failure_is_memoryerror():
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, env=_child_env())
    if "no error" in r.stdout:
        pytest.skip("the capped address space still had room for the scratch (nothing failed)")
    assert r.returncode == 0 and "memoryerror, pool usable" in r.stdout, (r.returncode, r.stdout, r.stderr[-2000:])


def _calls(rng):
    """One call per CPU family, each a function of nothing returning arrays."""
    x = rng.standard_normal((64, 96)).astype(np.float32)
    w = rng.standard_normal((80, 96)).astype(np.float32)
    bias = rng.standard_normal(80).astype(np.float32)
    img = rng.standard_normal((2, 8, 20, 20)).astype(np.float32)
    k = rng.standard_normal((12, 8, 3, 3)).astype(np.float32)
    seq = rng.standard_normal((9, 3, 16)).astype(np.float32)
    lstm_w = [rng.standard_normal((4 * 24, 16)).astype(np.float32) * 0.2,
              rng.standard_normal((4 * 24, 24)).astype(np.float32) * 0.2,
              rng.standard_normal(4 * 24).astype(np.float32), rng.standard_normal(4 * 24).astype(np.float32)]
    q = rng.standard_normal((2, 4, 33, 16)).astype(np.float32)
    target = rng.integers(0, 80, 64)
    table = rng.standard_normal((50, 16)).astype(np.float32)
    idx = rng.integers(0, 50, (7, 5))
    gamma = rng.standard_normal(8).astype(np.float32)
    beta = rng.standard_normal(8).astype(np.float32)
    return {
        "activation": lambda: F.gelu(x),
        "softmax": lambda: F.softmax(x, dim=1),
        "gemm": lambda: F.linear(x, w, bias),
        "matmul": lambda: F.matmul(x, x.T),
        "conv2d": lambda: F.conv2d(img, k, padding=1),
        "conv2d_backward_weight": lambda: F.conv2d_backward_weight(F.conv2d(img, k), img, k.shape),
        "max_pool2d": lambda: F.max_pool2d(img, 2),
        "avg_pool2d": lambda: F.avg_pool2d(img, 3, 1, 1),
        "batch_norm": lambda: F.batch_norm(img, None, None, gamma, beta, training=True),
        "layer_norm": lambda: F.layer_norm(x, (96,)),
        "cross_entropy": lambda: np.asarray(F.cross_entropy(F.linear(x, w), target)),
        "dropout": lambda: F.dropout(x, 0.3, training=True, seed=7),
        "lstm": lambda: F.lstm(seq, lstm_w)[0],
        "attention": lambda: F.scaled_dot_product_attention(q, q, q, is_causal=True),
        "embedding": lambda: F.embedding(idx, table),
    }


def test_eight_python_threads_match_serial_calls(two_threads, rng):
    calls = _calls(rng)
    serial = {name: np.array(f(), copy=True) for name, f in calls.items()}
    errors, results = [], [dict() for _ in range(8)]

    def worker(slot):
        try:
            for _ in range(3):
                for name, f in calls.items():
                    got = np.asarray(f())
                    if not np.array_equal(got, serial[name], equal_nan=True):
                        results[slot][name] = float(np.max(np.abs(got - serial[name])))
        except Exception as e:  # a raise in a thread must fail the test, not vanish
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    assert all(not r for r in results), results
