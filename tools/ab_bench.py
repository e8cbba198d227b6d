"""A/B timing of two fastlayers builds on the same benchmark cases, in one run.

Each round runs every build once, alternating which goes first, each in a fresh child process
(PYTHONPATH set to that build's python/ folder) that times `ours` of every case of the named
families of fastlayers._bench (the cases of build A, so both time the same calls) with
_bench.common.time_ms after an idle gap. The report is the median over rounds of each case's
time and of the paired ratio B / A (< 1: B is faster), as a Markdown table.

    python3 tools/ab_bench.py --a /path/to/old/python --b python --rounds 5 \\
        --family activation gemm conv pool norm train --out bench/results/<machine>-<date>/ab.md
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])  # the cases come from build A's _bench, fastlayers from PYTHONPATH
import fastlayers
from fastlayers._bench.common import time_ms, wait_quiet
quick = sys.argv[3] == "1"
out = {}
for fam in sys.argv[2].split(","):
    mod = importlib.import_module(f"fastlayers._bench.{fam}")
    for c in mod.cases(quick):
        wait_quiet()
        out[f"{c.op} | {c.shape}"] = time_ms(c.ours, 0.1 if quick else 0.3, stat="min")
print(json.dumps(out))
"""


def run_build(path: str, families: list, quick: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=path)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    r = subprocess.run([sys.executable, "-c", CHILD, path, ",".join(families), "1" if quick else "0"],
                       capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", required=True, help="python/ folder of build A (the baseline)")
    p.add_argument("--b", required=True, help="python/ folder of build B")
    p.add_argument("--family", nargs="+", default=["activation", "gemm", "pool", "norm", "conv"])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", help="also write the Markdown table here")
    args = p.parse_args()
    a_path, b_path = os.path.abspath(args.a), os.path.abspath(args.b)
    times = {"a": [], "b": []}
    for r in range(args.rounds):
        order = (("a", a_path), ("b", b_path)) if r % 2 == 0 else (("b", b_path), ("a", a_path))
        for key, path in order:
            times[key].append(run_build(path, args.family, args.quick))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    lines = [f"A: {a_path}  B: {b_path}  rounds: {args.rounds} (alternating order), families: "
             f"{' '.join(args.family)}, threads: {os.environ.get('OMP_NUM_THREADS', 'default')}", "",
             "| op | shape | A ms | B ms | B / A (median of paired ratios) |", "|---|---|---|---|---|"]
    for case in times["a"][0]:
        a = [t[case] for t in times["a"] if case in t]
        b = [t[case] for t in times["b"] if case in t]
        ratio = statistics.median(y / x for x, y in zip(a, b))
        op, shape = case.split(" | ", 1)
        lines.append(f"| {op} | {shape} | {statistics.median(a):.4g} | {statistics.median(b):.4g} | {ratio:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
