"""fastlayers.save / fastlayers.load: state dicts (and nested dicts / lists of arrays and
plain scalars, e.g. an optimizer's state_dict) in one NumPy .npz file.

The file holds the arrays as a0, a1, ... and one JSON entry describing the structure, with a
format tag; loading never unpickles anything. A file that is not ours, or that is truncated
or corrupt, raises ValueError saying so.
"""
from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib

import numpy as np

_TAG = "fastlayers-npz"
_VERSION = 1
_META = "__fastlayers__"


def _encode(obj, arrays: list):
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "fiub":
            raise TypeError(f"save: arrays of dtype {obj.dtype} are not supported")
        arrays.append(obj)
        return {"a": len(arrays) - 1}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"v": obj}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: dict keys must be str or int, got {type(k).__name__}")
        return {"d": [[k, _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"l" if isinstance(obj, list) else "t": [_encode(v, arrays) for v in obj]}
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__}")


def _decode(node, arrays):
    if "a" in node:
        return arrays[f"a{node['a']}"]
    if "v" in node:
        return node["v"]
    if "d" in node:
        return {k: _decode(v, arrays) for k, v in node["d"]}
    if "l" in node:
        return [_decode(v, arrays) for v in node["l"]]
    return tuple(_decode(v, arrays) for v in node["t"])


def save(obj, path) -> None:
    """Writes obj (a state dict, a Module or Optimizer (its state_dict), or nested dicts,
    lists and tuples of arrays and scalars) to path (.npz is appended if missing, as NumPy does)."""
    arrays: list = []
    tree = _encode(obj, arrays)
    meta = json.dumps({"format": _TAG, "version": _VERSION, "tree": tree})
    payload = {f"a{i}": a for i, a in enumerate(arrays)}
    payload[_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    np.savez(path, **payload)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive (an .npz), or an empty one
_NOT_OURS = "write models and state dicts with fastlayers.save"


def _not_a_zip(head: bytes, path) -> ValueError:
    """What a file that is no .npz is, in words (NumPy would call it pickled data)."""
    if head.startswith(b"\x93NUMPY"):
        kind = "a plain NumPy .npy array"
    elif head[:1] == b"\x80":
        kind = ("a Python pickle (pickle.dump, or torch.save's legacy format); fastlayers never unpickles "
                "a file, since unpickling runs code from it")
    elif not head:
        kind = "empty"
    else:
        kind = "not a .npz archive"
    return ValueError(f"load: {path} is not a fastlayers file: {kind} ({_NOT_OURS})")


def _read(fh, path):
    head = fh.read(8)
    fh.seek(0)
    if not head.startswith(_ZIP_MAGIC):
        raise _not_a_zip(head, path)
    z = np.load(fh, allow_pickle=False)
    with z:
        if _META not in z.files:
            if any(n.endswith("data.pkl") for n in z.files):
                raise ValueError(f"load: {path} is a PyTorch checkpoint (torch.save), not a fastlayers file: load "
                                 "it with torch.load and pass the state dict to model.load_state_dict")
            raise ValueError(f"load: {path} is not a fastlayers file (a .npz archive without the {_META} entry; "
                             f"{_NOT_OURS})")
        meta = json.loads(bytes(z[_META]).decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != _TAG:
            raise ValueError(f"load: {path} is not a fastlayers file (unknown format tag)")
        if meta.get("version", 0) > _VERSION:
            raise ValueError(f"load: {path} has format version {meta['version']}, this fastlayers reads "
                             f"up to {_VERSION}")
        arrays = {}
        for k in z.files:
            if k == _META:
                continue
            try:
                arrays[k] = z[k]
            except ValueError:  # NumPy: object arrays need allow_pickle
                raise ValueError(f"load: {path} is not a fastlayers file: its entry {k!r} holds Python "
                                 "objects (pickled), which fastlayers files never do") from None
        return _decode(meta["tree"], arrays)


def load(path):
    """Reads what save() wrote. ValueError for a file that is not a fastlayers file (saying what
    it is: a plain .npy, a pickle, a PyTorch checkpoint, ...) or is truncated / corrupt;
    FileNotFoundError for a missing one. Nothing is ever unpickled."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    try:
        with open(path, "rb") as fh:  # we own the handle: it is closed even when the zip is corrupt
            return _read(fh, path)
    except ValueError as exc:
        if str(exc).startswith("load:"):
            raise
        raise ValueError(f"load: {path} is not a fastlayers file, or is truncated or corrupt ({exc})") from exc
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError, UnicodeDecodeError,
            NotImplementedError, zlib.error, struct.error, OverflowError) as exc:
        # NotImplementedError: zipfile on a damaged compression method or version field
        raise ValueError(f"load: {path} is truncated or corrupt, or not a fastlayers file "
                         f"({type(exc).__name__}: {exc})") from exc
