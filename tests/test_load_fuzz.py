"""fastlayers.load on damaged files (issue 22, hardening): every truncation and random byte
corruption of a saved state dict either loads exactly what was saved (the damage hit bytes the
archive does not read, e.g. a timestamp) or raises ValueError; never another exception, a crash
or silently different values (zip's CRC-32 guards each member)."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import nn


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return a == b


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.BatchNorm1d(5), nn.Linear(5, 3))
    state = {"model": model.state_dict(), "step": 12, "note": "fuzz", "lr": [0.1, 0.01]}
    path = str(tmp_path_factory.mktemp("fuzz") / "state.npz")
    fastlayers.save(state, path)
    with open(path, "rb") as fh:
        return fastlayers.load(path), fh.read()


def _load_bytes(tmp_path, data: bytes, name: str):
    p = tmp_path / name
    p.write_bytes(data)
    return fastlayers.load(str(p))


def test_every_truncation_is_a_valueerror(saved, tmp_path):
    want, data = saved
    cuts = sorted(set(np.linspace(0, len(data) - 1, 120).astype(int).tolist()))
    for n in cuts:
        with pytest.raises(ValueError, match="load:"):
            _load_bytes(tmp_path, data[:n], f"cut{n}.npz")


@pytest.mark.parametrize("seed", range(8))
def test_random_corruption_loads_the_same_or_raises_valueerror(saved, tmp_path, seed):
    want, data = saved
    rng = np.random.default_rng(seed)
    loaded_same = raised = 0
    for trial in range(60):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), rng.integers(1, 4)):
            buf[pos] ^= int(rng.integers(1, 256))
        try:
            got = _load_bytes(tmp_path, bytes(buf), f"bad{trial}.npz")
        except ValueError as e:
            assert str(e).startswith("load:"), e
            raised += 1
            continue
        assert _equal(want, got), f"trial {trial}: a damaged file loaded different values"
        loaded_same += 1
    assert raised > 0


@pytest.mark.parametrize("payload", [b"", b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"\x80\x04K\x01.", b"not a file at all"])
def test_foreign_bytes_are_a_valueerror(tmp_path, payload):
    with pytest.raises(ValueError, match="load:"):
        _load_bytes(tmp_path, payload, "foreign.npz")
