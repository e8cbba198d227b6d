"""What a Python user expects of the package: type stubs for _core and functional (py.typed),
dir() showing only the public API, help(fastlayers.functional) and the README listing every
op with its backends, `fastlayers info` in plain words, fastlayers.load saying what a foreign
file is without NumPy's advice to unpickle it."""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import pickle
import pydoc
import re

import numpy as np
import pytest

import fastlayers
from fastlayers import _core

PKG = os.path.dirname(os.path.abspath(fastlayers.__file__))
README = os.path.join(PKG, "..", "..", "README.md")
PUBLIC = ["fastlayers", "fastlayers.functional", "fastlayers.nn", "fastlayers.nn.init", "fastlayers.nn.utils",
          "fastlayers.optim", "fastlayers.cuda", "fastlayers.data", "fastlayers.models"]
REGENERATE = "regenerate the stubs: pip install pybind11-stubgen && python tools/stubs.py (on a CUDA build)"


def _stub(rel: str) -> ast.Module:
    path = os.path.join(PKG, rel)
    assert os.path.exists(path), f"no {rel}: {REGENERATE}"
    with open(path) as fh:
        return ast.parse(fh.read())


def _stub_names(tree: ast.Module) -> set:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_package_is_typed():
    assert os.path.exists(os.path.join(PKG, "py.typed"))


def test_every_public_core_name_has_a_stub():
    stub = _stub_names(_stub("_core.pyi"))
    public = {n for n in dir(_core) if not n.startswith("_")}
    assert not public - stub, f"_core names without a stub: {sorted(public - stub)}; {REGENERATE}"
    stale = {n for n in stub - public if not n.startswith("_")} - {"CudaMemory"}  # CudaMemory: CUDA builds only
    assert not stale, f"_core.pyi names that _core lacks: {sorted(stale)}; {REGENERATE}"


def test_functional_stub_matches_the_signatures():
    tree = _stub("functional/__init__.pyi")
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    F = fastlayers.functional
    assert set(defs) == set(F.__all__), f"functional/__init__.pyi is out of date; {REGENERATE}"
    for name in F.__all__:
        a = defs[name].args
        stub = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        assert stub == list(inspect.signature(getattr(F, name)).parameters), f"{name}: {REGENERATE}"


@pytest.mark.parametrize("name", PUBLIC)
def test_dir_shows_only_the_public_api(name):
    mod = importlib.import_module(name)
    assert dir(mod) == sorted(mod.__all__)
    assert all(hasattr(mod, n) for n in mod.__all__)


def test_help_lists_every_op_with_its_backends():
    text = pydoc.render_doc(fastlayers.functional, renderer=pydoc.plaintext)
    doc = fastlayers.functional.__doc__
    for name in fastlayers.functional.__all__:
        assert re.search(rf"\b{name}\b", doc), name
    for family in ("activation", "gemm", "conv", "pool", "norm", "loss", "dropout"):
        assert re.search(rf"^{family} -- CPU: scalar reference.*CUDA", doc, flags=re.M), family
    assert "PACKAGE CONTENTS" in text and "Ops by family" in text


@pytest.mark.skipif(not os.path.exists(README), reason="needs the source tree (README.md)")
def test_readme_lists_every_op():
    with open(README, encoding="utf-8") as fh:
        table = fh.read().split("## Ops and backends", 1)[1].split("\n## ", 1)[0]
    for name in fastlayers.functional.__all__:
        base = name.split("_backward")[0]
        assert re.search(rf"\b{name}\b", table) or re.search(rf"\b{base}\b", table), name


class _Runtime:
    def __init__(self, reason):
        self.reason = reason

    def cuda_probe(self):
        return 0, self.reason


INSUFFICIENT = "cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version"


def test_no_driver_is_named_as_such(monkeypatch):
    from fastlayers._backend import device
    monkeypatch.setattr(device, "_driver_present", lambda: False)
    reason = device.probe(_Runtime(INSUFFICIENT))[1]
    assert reason.startswith("no NVIDIA driver found") and "insufficient" not in reason
    monkeypatch.setattr(device, "_driver_present", lambda: True)
    assert "older than this build's CUDA runtime" in device.probe(_Runtime(INSUFFICIENT))[1]
    assert device.probe(_Runtime("cudaErrorNoDevice: no CUDA-capable device is detected"))[1].startswith(
        "no NVIDIA GPU found")
    assert device.probe(_Runtime("cudaErrorUnknown: x"))[1] == "cudaErrorUnknown: x"


def test_info_says_no_driver_and_names_the_pool(monkeypatch):
    from fastlayers import _info
    from fastlayers._backend import device
    monkeypatch.setattr(device, "_driver_present", lambda: False)
    monkeypatch.setattr(_info, "_core", _CoreWithout(INSUFFICIENT))
    text = _info.format_info(_info.info())
    assert "not usable: no NVIDIA driver found" in text and "insufficient" not in text
    assert "fastlayers pool: its own worker threads" in text


class _CoreWithout:
    """_core as seen on a machine without a driver: its probe fails with `reason`."""

    def __init__(self, reason):
        self.reason = reason

    def cuda_probe(self):
        return 0, self.reason

    def __getattr__(self, name):
        return getattr(_core, name)


def _load_error(path) -> str:
    with pytest.raises(ValueError) as err:
        fastlayers.load(path)
    text = str(err.value)
    assert "not a fastlayers file" in text and "allow_pickle" not in text, text
    return text


def test_load_names_what_a_foreign_file_is(tmp_path):
    with open(tmp_path / "model.pkl", "wb") as fh:
        pickle.dump({"w": [1, 2]}, fh)
    assert "a Python pickle" in _load_error(tmp_path / "model.pkl")
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a .npz archive" in _load_error(tmp_path / "notes.txt")
    (tmp_path / "empty.npz").write_bytes(b"")
    assert "empty" in _load_error(tmp_path / "empty.npz")
    np.save(tmp_path / "plain.npy", np.ones(3))
    assert "plain NumPy .npy array" in _load_error(tmp_path / "plain.npy")
    np.savez(tmp_path / "objects.npz", o=np.array([{"a": 1}], dtype=object))
    _load_error(tmp_path / "objects.npz")


def test_load_names_a_pytorch_checkpoint(tmp_path, torch):
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    assert "PyTorch checkpoint" in _load_error(tmp_path / "model.pt")
