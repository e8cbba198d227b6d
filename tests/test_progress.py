"""The progress bars of the demos and `fastlayers bench` (fastlayers._progress): on stderr,
tqdm on a terminal when installed, else the built-in bar; printed lines do not tear it."""
from __future__ import annotations

import io

import pytest

from fastlayers import _progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_a_line_every_tenth():
    err, out = io.StringIO(), io.StringIO()
    bar = _progress.progress(100, "epoch", stream=err)
    assert isinstance(bar, _progress._Builtin)
    for i in range(100):
        bar.update(1, loss=f"{1 / (i + 1):.3f}")
    bar.write("a result", file=out)
    bar.close()
    lines = err.getvalue().splitlines()
    assert 10 <= len(lines) <= 12 and lines[-1].startswith("epoch 100/100 [########################] loss 0.010")
    assert out.getvalue() == "a result\n"


def test_builtin_bar_on_a_terminal_redraws_in_place(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name == "tqdm":
            raise ImportError(name)
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    err, out = _Terminal(), io.StringIO()
    with _progress.progress(0, "bench", "row", stream=err) as bar:
        assert isinstance(bar, _progress._Builtin)
        bar.grow(2)
        bar.update(1, row="a")
        bar.write("row a", file=out)
        bar.update(1, row="b")
    text = err.getvalue()
    assert text.count("\r") >= 3 and "bench 2/2 [" in text and text.endswith("\n")
    assert out.getvalue() == "row a\n"


def test_tqdm_on_a_terminal():
    pytest.importorskip("tqdm")
    err = _Terminal()
    with _progress.progress(3, "epoch", "epoch", stream=err) as bar:
        assert isinstance(bar, _progress._Tqdm)
        bar.grow(1)
        for _ in range(4):
            bar.update(1, loss="0.1")
    assert "4/4" in err.getvalue() and "loss=0.1" in err.getvalue()
