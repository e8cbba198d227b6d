"""The baselines of `fastlayers bench`, NumPy and PyTorch, each timed in a child process of its
own whose environment lacks OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE.

Some machines set those two variables for old OpenBLAS builds; a current NumPy then runs a
slower kernel than its CPU allows (matmul 1024^3 took 2.5x ours with them set, 1.05x without,
on the Xeon VM), and the speed-up printed would be ours against a handicapped NumPy. The
parent process times fastlayers; each child builds the same cases (the same seeds) and times
its library's callable when asked, so the rounds still interleave ours, NumPy and PyTorch. A
child replies only once its threads have gone quiet (wait_quiet), so no library is ever timed
while another one's pool spins.

Protocol, one JSON object per line. Child -> parent on start: {"lib", "available", "version",
"blas"}. Parent -> child: {"load": family, "quick": bool} -> {"cases": [[op, shape, has_fn]...]};
{"time": index, "spec": time_ms's keywords} ->
{"ms": float, "cpu_s": float} or {"error": text}; {"exit": true} ends the child.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from typing import Optional

REMOVED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
LIBS = ("numpy", "torch")


def removed_settings() -> str:
    """Which of REMOVED_ENV this process has, as NAME=value (or 'neither set here')."""
    set_here = [f"{k}={os.environ[k]}" for k in REMOVED_ENV if k in os.environ]
    return ", ".join(set_here) if set_here else "neither set here"


class Baseline:
    """One child process timing one library (numpy or torch) on request."""

    def __init__(self, lib: str, threads: Optional[int] = None):
        env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
        self.lib = lib
        self.proc = subprocess.Popen([sys.executable, "-m", "fastlayers._bench.baseline", lib, str(threads or 0)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        hello = self._recv()
        self.available = bool(hello.get("available"))
        self.version, self.blas = hello.get("version", ""), hello.get("blas", "")
        self.has: list[bool] = []

    def _recv(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fastlayers bench: the {self.lib} process ended (exit status {self.proc.wait()})")
        return json.loads(line)

    def request(self, **request) -> None:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    def ask(self, **request) -> dict:
        self.request(**request)
        return self._recv()

    def listing(self) -> list:
        """The reply to a load request sent before: [op, shape, has_callable] per case."""
        listing = self._recv()["cases"]
        self.has = [bool(h) for _, _, h in listing]
        return listing

    def time(self, index: int, **spec) -> dict:
        """Times case `index` with time_ms(**spec) in the child: {"ms", "cpu_s"} or {"error"}."""
        return self.ask(time=index, spec=spec)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request(exit=True)
            except OSError:  # the child is gone already
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe and not pipe.closed:
                pipe.close()


def _describe(lib: str) -> dict:
    if lib == "torch":
        from .common import try_torch
        torch = try_torch()
        if torch is None:
            return {"available": False}
        return {"available": True, "version": torch.__version__, "blas": ""}
    import numpy as np
    blas = ""
    try:
        from threadpoolctl import threadpool_info
        for p in threadpool_info():
            if p.get("user_api") == "blas":
                blas = f"{p.get('internal_api')} {p.get('architecture') or ''}".strip()
                break
    except ImportError:
        pass
    return {"available": True, "version": np.__version__, "blas": blas}


def _serve(lib: str, threads: int, requests, reply) -> None:
    from . import common
    common.WITH_TORCH = lib == "torch"
    common.set_threads(threads)
    reply({"lib": lib, **_describe(lib)})
    cases = []
    for line in requests:
        req = json.loads(line)
        if req.get("exit"):
            return
        if "load" in req:
            cases = []  # the previous family's arrays go before the next family's are made
            cases = importlib.import_module(f"fastlayers._bench.{req['load']}").cases(req["quick"])
            reply({"cases": [[c.op, c.shape, getattr(c, lib) is not None] for c in cases]})
            continue
        fn = getattr(cases[req["time"]], lib)
        common.wait_quiet()
        c0 = time.process_time()
        try:
            ms = common.time_ms(fn, **req["spec"])
        except Exception as exc:  # noqa: BLE001 - a baseline that fails is reported, not fatal
            reply({"error": f"{type(exc).__name__}: {exc}"})
            continue
        cpu = time.process_time() - c0
        common.wait_quiet()
        reply({"ms": ms, "cpu_s": cpu})


def main(argv=None) -> int:
    lib, threads = (argv or sys.argv[1:])[:2]
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints stays out of the protocol

    def reply(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()
    _serve(lib, int(threads), sys.stdin, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
