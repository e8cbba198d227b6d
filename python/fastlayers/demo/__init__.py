"""`fastlayers demo <name>`: small end-to-end training runs.

DEMOS maps a subcommand to the module that implements it; each module defines HELP,
add_arguments(parser) and run(args) -> exit code. A new demo is a new file plus one line here.
"""
from __future__ import annotations

import importlib

DEMOS = {
    "mlp": "fastlayers.demo.mlp",
    "cnn": "fastlayers.demo.cnn",
    "rnn-digits": "fastlayers.demo.rnn_digits",
    "char-rnn": "fastlayers.demo.char_rnn",
    "transformer": "fastlayers.demo.transformer",
    "embed": "fastlayers.demo.embed",
}


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="demo", required=True, metavar="DEMO")
    for name, path in DEMOS.items():
        mod = importlib.import_module(path)
        p = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
