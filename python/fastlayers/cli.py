"""The `fastlayers` command: info, bench, demo, playground."""
from __future__ import annotations

import argparse
import json
import sys


def _cmd_info(args) -> int:
    from ._info import format_info, info
    d = info()
    print(json.dumps(d, indent=2) if args.json else format_info(d))
    return 0


def _cmd_bench(args) -> int:
    from ._bench.runner import run_cli
    return run_cli(args)


def _cmd_demo(args) -> int:
    return args.func(args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastlayers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="version, ISA, threads, CUDA status")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("bench", help="time fastlayers against NumPy (and PyTorch when installed)")
    from ._bench.runner import add_arguments
    add_arguments(p)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("demo", help="train a small model end to end (e.g. `fastlayers demo mlp`)")
    from .demo import add_arguments as add_demo_arguments
    add_demo_arguments(p)

    p = sub.add_parser("playground", help="a local web page that trains an MLP live (like playground.tensorflow.org)")
    from .playground import add_arguments as add_playground_arguments
    add_playground_arguments(p)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
