"""The runtime: ISA selection from FASTLAYERS_ISA, thread count from OMP_NUM_THREADS, info()."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import fastlayers

ROOT = os.path.dirname(os.path.dirname(fastlayers.__file__))


def run_py(code: str, **env) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)


@pytest.mark.parametrize("level", ["scalar", "avx2", "avx512"])
def test_fastlayers_isa_env_forces_a_level(level):
    r = run_py("import fastlayers; print(fastlayers.get_isa())", FASTLAYERS_ISA=level)
    if level in fastlayers.available_isas():
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == level
    else:
        assert r.returncode != 0 and "supports at most" in r.stderr


def test_fastlayers_isa_env_rejects_unknown_names():
    r = run_py("import fastlayers", FASTLAYERS_ISA="sse9")
    assert r.returncode != 0
    assert "FASTLAYERS_ISA='sse9' is not one of scalar, avx2, avx512" in r.stderr


def test_omp_num_threads_is_honoured():
    r = run_py("import fastlayers; print(fastlayers.get_num_threads())", OMP_NUM_THREADS="3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


def _threads_with(value: str) -> int:
    r = run_py("import fastlayers; print(fastlayers.get_num_threads())", OMP_NUM_THREADS=value)
    assert r.returncode == 0, f"OMP_NUM_THREADS={value!r}: {r.stderr}"
    return int(r.stdout)


def test_omp_num_threads_read_by_the_pool_itself():
    """No OpenMP runtime: the pool reads OMP_NUM_THREADS (a positive integer, or the first entry
    of an OpenMP list); any other value imports fine and gives the default, the CPUs the process
    may run on."""
    assert _threads_with("1") == 1
    assert _threads_with(" 2 ") == 2 and _threads_with("2,1") == 2
    default = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for bad in ("abc", "0", "-2", "", "3x", "1.5", "99999999999999999999"):
        assert _threads_with(bad) == default, bad


def test_info_reports_build_and_devices():
    d = fastlayers.info()
    assert d["isa"] in d["isa_available"] and d["isa_detected"] == d["isa_available"][-1]
    assert d["threads"] == fastlayers.get_num_threads() and d["version"] == fastlayers.__version__
    assert isinstance(d["cuda_built"], bool)
    if not d["cuda_available"]:
        assert d["cuda_reason"] and d["cuda_devices"] == []


def test_info_names_the_thread_pool():
    d = fastlayers.info()
    assert d["thread_pool"] == "fastlayers" and "openmp" not in d
    from fastlayers._info import format_info
    assert f"threads          {d['threads']} (fastlayers pool: its own worker threads" in format_info(d)
    assert "OpenMP" not in format_info(d)


def test_python_m_fastlayers_runs_the_command():
    r = subprocess.run([sys.executable, "-m", "fastlayers", "info"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "2"}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "threads          2 (fastlayers pool:" in r.stdout


def test_info_command():
    r = subprocess.run([sys.executable, "-m", "fastlayers.cli", "info", "--json"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["isa"] == fastlayers.get_isa()


def test_measured_fma_peak_orders_the_isa_levels(isa):
    from fastlayers import _core
    gf = max(_core.measure_fma_peak_gflops(0.02) for _ in range(3))
    assert gf > 0.5
    if isa != "scalar":
        # 8 or 16 float lanes x 2 flops per FMA at >= 1 GHz, even on a loaded machine.
        assert gf > 4.0


def test_time_ms_stat_min_is_the_fastest_batch(monkeypatch):
    """time_ms(stat="min") reports the fastest batch, the default the median one."""
    from fastlayers._bench import common

    delays = iter([0.0] * 3 + [0.004, 0.001, 0.003] + [0.0] * 3 + [0.004, 0.001, 0.003])
    clock = {"t": 0.0}

    def fake_counter():
        return clock["t"]

    def fn():
        clock["t"] += next(delays)

    monkeypatch.setattr(common.time, "perf_counter", fake_counter)
    # warmup 2 calls, 1 sizing call, then 3 batches of one call each (min_time tiny)
    assert common.time_ms(fn, 1e-9, repeat=3, stat="min") == pytest.approx(1.0)
    assert common.time_ms(fn, 1e-9, repeat=3) == pytest.approx(3.0)


def test_wait_quiet_waits_for_a_spinning_thread():
    """The bench waits until no thread of the process uses the CPU (another library's pool
    spinning after its call) before it measures."""
    import threading
    import time

    from fastlayers._bench.common import wait_quiet
    assert wait_quiet() < 0.1  # idle: one slice
    stop = time.perf_counter() + 0.3

    def spin():
        while time.perf_counter() < stop:
            pass

    t = threading.Thread(target=spin)
    t.start()
    waited = wait_quiet(max_wait=2.0)
    t.join()
    assert 0.2 <= waited < 1.5, waited
    assert wait_quiet(max_wait=0.05) < 0.2  # bounded by max_wait


def test_steal_ticks_reads_proc_stat():
    from fastlayers._bench import common

    got = common.steal_ticks()
    if not os.path.exists("/proc/stat"):
        assert got is None
        return
    steal, total = got
    assert 0 <= steal <= total and total > 0


_POOL_CODE = """
import os, sys, time, numpy as np, fastlayers
from fastlayers import functional as F
fastlayers.set_num_threads({threads})
r = np.random.default_rng(0)
a = r.integers(-3, 4, (300, 300)).astype(np.float32)
want = a @ a
def check():
    assert np.array_equal(F.matmul(a, a), want)
    assert np.array_equal(F.relu(np.arange(-5, 1 << 20, dtype=np.float32))[:6], [0, 0, 0, 0, 0, 0])
check()
time.sleep(0.1)      # the pool's workers go to sleep
check()              # and the caller does not wait for them
pid = os.fork()
if pid == 0:         # a forked child starts a pool of its own
    try:
        check(); check()
    except BaseException:
        os._exit(1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert os.WEXITSTATUS(status) == 0, status
check()
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("threads", [2, 3])
def test_thread_pool_after_sleep_and_fork(threads):
    """parallel_for's pool: exact results after its workers slept, and in a forked child."""
    r = run_py(_POOL_CODE.format(threads=threads))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_bench_device_selects_families():
    from fastlayers._bench import FAMILIES
    from fastlayers._bench.runner import device_families
    assert device_families() == FAMILIES
    assert device_families("cuda") == ["cuda", "cuda_conv"]
    assert device_families("cpu") == [f for f in FAMILIES if not f.startswith("cuda")]
    assert device_families("cuda", ["gemm", "cuda_conv"]) == ["cuda_conv"]


@pytest.mark.skipif(fastlayers.cuda.is_available(), reason="checks the behaviour without a usable GPU")
def test_bench_device_cuda_without_gpu_exits_2():
    r = subprocess.run([sys.executable, "-m", "fastlayers.cli", "bench", "--device", "cuda", "--quick"],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert r.returncode == 2 and "no usable GPU" in r.stdout, (r.stdout, r.stderr)


GPU_CHECK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "gpu_check")


@pytest.mark.skipif(not os.path.exists(GPU_CHECK), reason="needs the source tree (tools/gpu_check)")
def test_gpu_check_dry_run_lists_the_steps(tmp_path):
    r = subprocess.run(["bash", GPU_CHECK, "--dry-run", "--results", str(tmp_path / "r")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    steps = [line.split()[0] for line in r.stdout.splitlines()[1:] if "(limit" in line]
    assert steps == ["gpu", "build", "tests", "sanitizer", "bench", "events"]
    assert not (tmp_path / "r").exists()  # a dry run writes nothing
    if "none found" in r.stdout:
        r = subprocess.run(["bash", GPU_CHECK, "--results", str(tmp_path / "r")], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2 and "no NVIDIA GPU" in r.stdout, (r.stdout, r.stderr)
