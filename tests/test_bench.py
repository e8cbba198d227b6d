"""`fastlayers bench` tells the truth: baselines in child processes without the OpenBLAS
overrides, robust peak, Winograd rows marked as effective GFLOP/s, spread and other processes'
CPU time printed, a baseline that varies more than 2x between rounds flagged, not divided."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

import fastlayers
from fastlayers._bench import baseline, common, conv, runner, table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastlayers.__file__)))


def _blas_architecture(env) -> str:
    code = ("import numpy, threadpoolctl; print([p.get('architecture') for p in threadpoolctl.threadpool_info() "
            "if p.get('user_api') == 'blas'][0])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_numpy_child_runs_without_the_openblas_overrides(monkeypatch):
    pytest.importorskip("threadpoolctl")
    clean = {k: v for k, v in os.environ.items() if k not in baseline.REMOVED_ENV}
    native = _blas_architecture(clean)
    forced = "Nehalem" if native != "Nehalem" else "Haswell"
    monkeypatch.setenv("OPENBLAS_CORETYPE", forced)
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "262144")
    assert _blas_architecture(dict(os.environ)) == forced  # the override is real in this process's children
    b = baseline.Baseline("numpy")
    try:
        assert b.available and b.blas.endswith(native), b.blas
        listing = b.ask(load="norm", quick=True)["cases"]
        assert listing and all(has for _, _, has in listing)
        reply = b.time(0, min_time=0.001, repeat=2, warmup=0, stat="min", max_time=None)
        assert reply["ms"] > 0 and reply["cpu_s"] >= 0
    finally:
        b.close()
    assert b.proc.poll() == 0
    assert "OPENBLAS_CORETYPE=" + forced in baseline.removed_settings()


def test_time_ms_max_time_bounds_a_slow_call():
    calls = []

    def slow():
        calls.append(1)
        import time
        time.sleep(0.02)
    common.time_ms(slow, min_time=0.001, repeat=7, warmup=2, stat="min", max_time=0.01)
    assert len(calls) == 1 + 1 + 2  # one warm-up, the sizing call, two batches


def test_measure_peak_reports_how_it_was_measured():
    p = table.measure_peak(tries=2, good_needed=1, seconds=0.02)
    assert p["gflops"] > 0.5 and p["spread"] >= 0
    assert p["estimated"] == (p["tries"] == 0)


def test_winograd_rows_are_effective_gflops(isa):
    cases = conv.cases(quick=True)
    marked = {c.op for c in cases if c.effective}
    if isa == "scalar":
        assert not marked
    else:
        assert marked == {"conv2d (b) 3x3", "conv2d (b) 3x3 fwd+bwd", "conv2d (c) 3x3", "conv2d (c) 3x3 fwd+bwd"}


def _table(lines):
    peak = {"gflops": 100.0, "spread": 0.01, "tries": 3, "estimated": False}
    return table.Table(lines.append, peak=peak, rounds=2, stat="min", baselines={})


def test_a_baseline_varying_more_than_2x_gets_no_ratio():
    lines = []
    t = _table(lines)
    c = common.Case("gemm", "matmul", "128x128x128", ours=lambda: None, flops=2e6)
    row = t.row(c, {"ours": [1.0, 1.1], "numpy": [2.0, 5.0], "torch": [3.0, 3.3], "_wall": 1.0, "_other": 0.5}, 2)
    assert row["speedup_numpy"] is None and row["varies"] == ["numpy"]
    assert row["speedup_torch"] == pytest.approx(3.0)
    assert row["spread"]["numpy"] == pytest.approx(1.5) and row["other_cpu_share"] == pytest.approx(0.25)
    assert "varies" in lines[-1] and "3.00x" in lines[-1] and "150%" in lines[-1] and "25%" in lines[-1]
    t.footer(None, None)
    text = "\n".join(lines)
    assert "more than 2x" in text and "other processes took" in text and "spread" in text


def test_winograd_row_is_starred_and_explained():
    lines = []
    t = _table(lines)
    c = common.Case("conv", "conv2d (b) 3x3", "s", ours=lambda: None, flops=3e6, effective=True)
    row = t.row(c, {"ours": [0.01, 0.01], "_wall": 0.1, "_other": 0.0}, 2)
    assert row["effective_gflops"] and row["peak_fraction"] == pytest.approx(3.0)
    assert "300.0*" in lines[-1]
    t.footer(None, None)
    assert any("effective GFLOP/s" in ln and "direct convolution" in ln for ln in lines)


def test_time_row_interleaves_and_rotates():
    order = []

    def timer(name, ms):
        def t(**spec):
            order.append((name, spec["warmup"]))
            return {"ms": ms, "cpu_s": 0.0}
        return t
    out = runner.time_row({"ours": timer("ours", 1.0), "numpy": timer("numpy", 2.0)}, 2,
                          {"min_time": 0.0, "repeat": 1, "stat": "min", "max_time": None}, runner._Clock())
    assert order == [("ours", 2), ("numpy", 2), ("numpy", 0), ("ours", 0)]
    assert out["ours"] == [1.0, 1.0] and out["numpy"] == [2.0, 2.0] and out["_wall"] >= 0


def test_bench_quick_family_end_to_end(tmp_path):
    """`fastlayers bench --quick --family norm` with OPENBLAS_CORETYPE set: the header says the
    baselines run without it, every row has its rounds, the JSON rows carry the new fields, the
    progress bar goes to stderr and --plot writes a PNG (where matplotlib is installed: the
    README's test install has no [demo] extra)."""
    plot = importlib.util.find_spec("matplotlib") is not None
    env = {**os.environ, "PYTHONPATH": ROOT, "OPENBLAS_CORETYPE": "Haswell"}
    out, png = tmp_path / "rows.json", tmp_path / "bench.png"
    r = subprocess.run([sys.executable, "-m", "fastlayers", "bench", "--quick", "--family", "norm", "--json", str(out)]
                       + (["--plot", str(png)] if plot else []), capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "bench 2/2 [" in r.stderr  # the progress bar, on stderr
    if plot:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"plot written to {png}" in r.stdout
    assert "without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (OPENBLAS_CORETYPE=Haswell)" in r.stdout
    assert "other:" in r.stdout and "spread:" in r.stdout
    import json
    rows = json.loads(out.read_text())
    assert rows and all(len(row["rounds_ms"]["ours"]) == 2 and "other_cpu_share" in row for row in rows)


def test_plot_rows_draws_every_row(tmp_path):
    pytest.importorskip("matplotlib")
    from fastlayers._bench.plot import plot_rows
    rows = [{"family": f, "op": f"op{i}", "shape": "s", "ours_ms": 1.0 + i, "numpy_ms": 2.0, "torch_ms": None,
             "speedup_numpy": 2.0 / (1 + i), "speedup_torch": None, "varies": ["numpy"] if i == 2 else [],
             "isa": "avx2", "threads": 2, "timing": "t"} for i, f in enumerate(["gemm", "gemm", "conv"])]
    plot_rows(rows, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 1000
