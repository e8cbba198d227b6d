"""Data-parallel training over MPI with 2 ranks on this machine: each test spawns
`mpirun -n 2 python mpi_worker.py ...` (with a timeout) and compares with a single-process run.
Skipped, saying why, where mpi4py or mpirun is missing (pip install "fastlayers[mpi]")."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastlayers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The ranks import the fastlayers this test imported (a source tree or an installed wheel).
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [str(Path(fastlayers.__file__).resolve().parents[1])] + os.environ.get("PYTHONPATH", "").split(os.pathsep)),
    OMP_NUM_THREADS="1")


def _mpirun():
    try:
        import mpi4py  # noqa: F401  (the package only: importing mpi4py.MPI would start MPI here)
    except ImportError:
        return None, 'mpi4py is not installed (pip install "fastlayers[mpi]")'
    for cand in (Path(sys.executable).with_name("mpirun"), shutil.which("mpirun"), shutil.which("mpiexec")):
        if cand and Path(cand).exists():
            return str(cand), ""
    return None, "no mpirun/mpiexec on PATH (pip install mpich, or load the cluster's MPI module)"


MPIRUN, WHY = _mpirun()
pytestmark = pytest.mark.skipif(MPIRUN is None, reason=f"MPI unavailable: {WHY}")


def run_ranks(*args, n=2, timeout=240, env=None):
    e = dict(ENV, **(env or {}))
    cmd = [MPIRUN, "-n", str(n), sys.executable, *args]
    try:
        return subprocess.run(cmd, cwd=ROOT, env=e, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} hung past {timeout} s:\n{exc.stdout}\n{exc.stderr}")


def worker(*args, **kw):
    return run_ranks(str(HERE / "mpi_worker.py"), *args, **kw)


def _single(which):
    sys.path.insert(0, str(HERE))
    try:
        import mpi_worker as w
    finally:
        sys.path.pop(0)
    if which == "mlp":
        model, opt, X, y = w.mlp_setup()
        stats = w.train_classifier(model, opt, X, y, epochs=w.EPOCHS, batch_size=w.BATCH, seed=0, progress=False)
    else:
        stats = w.train_digits(seed=0, progress=False, epochs=w.EPOCHS, batch_norm=False)
        model = stats["model"]
    return model.state_dict(), stats


@pytest.mark.slow
@pytest.mark.parametrize("which,bucket_mb", [("mlp", "25"), ("mlp", "0.002"), ("cnn", "0.01")])
def test_two_ranks_follow_the_single_process_run(tmp_path, which, bucket_mb):
    if which == "cnn":
        pytest.importorskip("sklearn", reason="the digits need scikit-learn (the demo extra)")
    out = tmp_path / "ranks.npz"
    r = worker("train", str(out), which, bucket_mb)
    assert r.returncode == 0, r.stdout + r.stderr
    sd, stats = _single(which)
    got = np.load(out)
    for k, v in sd.items():
        np.testing.assert_allclose(got[k], v, rtol=2e-4, atol=2e-5, err_msg=k)
    assert abs(float(got["loss"]) - stats["loss"]) < 1e-4
    assert float(got["acc"]) == pytest.approx(stats["train_acc"])


def _losses(text):
    return [float(v) for v in re.findall(r"loss (\d+\.\d+)", text)]


@pytest.mark.slow
def test_demo_mlp_distributed_loss_curve_matches():
    args = ["-m", "fastlayers.cli", "demo", "mlp", "--dataset", "circle", "--epochs", "4", "--samples", "300"]
    r = run_ranks(*args, "--distributed")
    assert r.returncode == 0, r.stdout + r.stderr
    one = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=240,
                         env=ENV)
    assert one.returncode == 0, one.stderr
    assert r.stdout.count("test accuracy") == 1  # only rank 0 reports
    a, b = _losses(r.stderr), _losses(one.stderr)   # the per-epoch loss is the progress line, on stderr
    assert len(a) == len(b) == 4
    np.testing.assert_allclose(a, b, atol=2e-4)


def test_buckets_start_during_backward():
    r = worker("overlap")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("what,message", [("die", ""), ("hang", "did not complete within"),
                                          ("raise", "raised RuntimeError")])
def test_a_failing_rank_ends_the_job_instead_of_hanging(what, message):
    r = worker(what, timeout=90, env={"WORKER_TIMEOUT": "3"})
    if r.returncode != 0 and not r.stdout and not r.stderr:
        # Seen once in a local CI run at load 5 on 2 cores: mpirun exited 1 printing nothing, no
        # rank having run (not what this test is about); one retry tells that from a real fault.
        r = worker(what, timeout=90, env={"WORKER_TIMEOUT": "3"})
    assert r.returncode != 0, r.stdout + r.stderr
    assert "rank 0 ok" not in r.stdout
    assert message in r.stderr
