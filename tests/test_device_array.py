"""The Python side of fastlayers.cuda (Array, to_device / asarray / DLPack, the device paths'
argument handling), checked on any machine with the host stand-in of tools/cuda_emu/standin.py:
"device" memory in host buffers, cuda_<op> running the CPU <op>. (The CUDA kernels themselves
are checked by the cuda-marked tests on a GPU and by tools/cuda_emu/run.py without one.)
"""
from __future__ import annotations

import ctypes
import gc
import weakref

import numpy as np
import pytest

import fastlayers.functional as F
from fastlayers import _core, cuda
from standin import HostMem, HostStandIn  # noqa: F401 (HostMem: for other test modules)

from helpers import assert_close


@pytest.fixture
def fake():
    """The host stand-in of the CUDA backend (tools/cuda_emu/standin.py), installed for one test."""
    with HostStandIn() as core:
        yield core


class HostCai:
    """A foreign 'GPU' array (CuPy-like) backed by a NumPy array."""

    def __init__(self, arr, stream=None):
        self.arr = arr
        self.__cuda_array_interface__ = {"shape": arr.shape, "typestr": arr.dtype.str,
                                         "data": (arr.ctypes.data, False), "version": 3,
                                         "strides": None if arr.flags.c_contiguous else arr.strides,
                                         "stream": stream}


def test_array_basics(fake, rng):
    x = rng.standard_normal((3, 4))  # float64: converted once
    d = cuda.to_device(x)
    assert isinstance(d, cuda.Array) and d.shape == (3, 4) and d.dtype == np.float32
    assert d.size == 12 and d.ndim == 2 and d.nbytes == 48 and d.device == 0 and len(d) == 3
    np.testing.assert_array_equal(d.numpy(), x.astype(np.float32))
    r = d.reshape(-1)
    assert r.shape == (12,) and r.data_ptr == d.data_ptr
    assert d.reshape((2, 6)).shape == (2, 6) and d.reshape(4, -1).shape == (4, 3)
    with pytest.raises(ValueError, match="cannot reshape"):
        d.reshape(5, -1)
    c = d.copy()
    assert c.data_ptr != d.data_ptr
    np.testing.assert_array_equal(c.numpy(), d.numpy())
    cai = d.__cuda_array_interface__
    assert cai == {"shape": (3, 4), "typestr": "<f4", "data": (d.data_ptr, False), "version": 3,
                   "strides": None, "stream": 1}
    assert d.__dlpack_device__() == (2, 0)
    assert "shape=(3, 4)" in repr(d)
    assert cuda.to_device(d) is d
    e = cuda.empty((2, 0, 3))
    assert e.shape == (2, 0, 3) and e.numpy().shape == (2, 0, 3)
    with pytest.raises(TypeError, match="complex"):
        cuda.to_device(np.ones(2, np.complex64))
    with pytest.raises(ValueError, match="device"):
        cuda.to_device(x, device=3)
    with pytest.raises(TypeError, match="0-d"):
        len(cuda.to_device(np.float32(1)))
    with pytest.raises(TypeError, match=r"\.numpy\(\)"):
        np.asarray(d)


def test_asarray_wraps_foreign_memory_without_copy(fake):
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    obj = HostCai(host, stream=77)
    a = cuda.asarray(obj)
    assert a.data_ptr == host.ctypes.data and a.shape == (3, 4) and a.dtype == np.float32
    assert fake.waits == [77]  # ordered after the producer's stream
    y = F.relu(obj, out=obj)  # in place on the foreign memory
    assert isinstance(y, cuda.Array) and y.data_ptr == host.ctypes.data
    host[...] = np.arange(12).reshape(3, 4) - 6
    F.relu(obj, out=obj)
    np.testing.assert_array_equal(host, np.maximum(np.arange(12).reshape(3, 4) - 6, 0))
    strided = np.arange(24, dtype=np.float32).reshape(4, 6)[:, 1::2]
    g = cuda.asarray(HostCai(strided))  # non-contiguous: copied once
    assert g.shape == (4, 3) and g.data_ptr != strided.ctypes.data
    np.testing.assert_array_equal(g.numpy(), strided)
    t = np.arange(24, dtype=np.int64).reshape(2, 3, 4).transpose(2, 0, 1)
    np.testing.assert_array_equal(cuda.asarray(HostCai(t)).numpy(), t)
    np.testing.assert_array_equal(F.relu(HostCai(strided.T - 10)).numpy(), np.maximum(strided.T - 10, 0))
    with pytest.raises(ValueError, match="negative strides"):
        cuda.asarray(HostCai(np.ones((4, 4), np.float32)[::-1]))
    # an output is written in place, never through a copy
    with pytest.raises(ValueError, match="out: expected a writable C-contiguous device array, got strides"):
        F.relu(HostCai(strided), out=HostCai(strided.T.copy().T))
    ro = HostCai(np.zeros((4, 3), np.float32))
    ro.__cuda_array_interface__["data"] = (ro.arr.ctypes.data, True)
    with pytest.raises(ValueError, match="read-only"):
        F.relu(HostCai(strided), out=ro)
    with pytest.raises(ValueError, match="out: expected a writable"):
        cuda.matmul(HostCai(strided), HostCai(strided.T.copy()), out=HostCai(np.zeros((8, 4), np.float32)[::2]))
    for dt in (np.float64, np.float16, np.int64, np.int8, np.uint16, np.bool_):
        src = (np.arange(-3, 5) % 7).astype(dt) if dt != np.bool_ else np.arange(8) % 3 == 0
        got = F.relu(HostCai(src))  # other real dtypes: converted once to float32
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), np.maximum(src.astype(np.float32), 0))
    assert cuda.to_device(HostCai(np.arange(3))).dtype == np.float32
    with pytest.raises(TypeError, match="unsupported device array dtype complex64"):
        F.relu(HostCai(np.ones(3, np.complex64)))
    with pytest.raises(TypeError, match="out: expected a float32 device array, got dtype float64"):
        F.relu(HostCai(np.ones(3, np.float32)), out=HostCai(np.ones(3)))
    with pytest.raises(TypeError, match="GPU array"):
        cuda.asarray([1.0])


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "gelu_tanh"])
def test_unary_device_path(fake, name, rng):
    x = (rng.standard_normal((5, 7)) * 3).astype(np.float32)
    g = rng.standard_normal((5, 7)).astype(np.float32)
    if name == "gelu_tanh":
        fwd = lambda v, **k: F.gelu(v, "tanh", **k)  # noqa: E731
        bwd = lambda gg, s, **k: F.gelu_backward(gg, s, "tanh", **k)  # noqa: E731
    else:
        fwd, bwd = getattr(F, name), getattr(F, f"{name}_backward")
    saved = fwd(x) if name in ("sigmoid", "tanh") else x
    y = fwd(cuda.to_device(x))
    assert isinstance(y, cuda.Array)
    np.testing.assert_array_equal(y.numpy(), fwd(x))
    dx = bwd(cuda.to_device(g), cuda.to_device(saved))
    np.testing.assert_array_equal(dx.numpy(), bwd(g, saved))
    out = cuda.empty((5, 7))
    assert fwd(cuda.to_device(x), out=out) is out
    np.testing.assert_array_equal(out.numpy(), fwd(x))


def test_device_out_and_shape_errors(fake):
    d = cuda.to_device(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"out: expected shape \(2, 4\), got \(8,\)"):
        F.relu(d, out=cuda.empty((8,)))
    with pytest.raises(TypeError, match="mixing devices: input on the GPU but out on the CPU"):
        F.relu(d, out=np.empty((2, 4), np.float32))
    with pytest.raises(TypeError, match="mixing devices: grad_out on the GPU but x on the CPU"):
        F.relu_backward(d, np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="x: expected the shape of grad_out"):
        F.relu_backward(d, cuda.to_device(np.ones(3, np.float32)))
    shifted = HostCai.__new__(HostCai)
    shifted.__cuda_array_interface__ = {"shape": (2, 4), "typestr": "<f4", "data": (d.data_ptr + 4, False),
                                        "version": 3, "strides": None}
    with pytest.raises(ValueError, match="partially overlaps"):
        F.sigmoid(d, out=shifted)
    with pytest.raises(TypeError, match="float32"):
        F.relu(d, out=cuda.empty((2, 4), dtype=np.float64))


@pytest.mark.parametrize("shape,axis", [((5, 6, 7), 0), ((5, 6, 7), 1), ((5, 6, 7), -1), ((9,), 0)])
def test_softmax_device_path(fake, shape, axis, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    for fwd, bwd in ((F.softmax, F.softmax_backward), (F.log_softmax, F.log_softmax_backward)):
        y = fwd(cuda.to_device(x), axis)
        np.testing.assert_array_equal(y.numpy(), fwd(x, axis))
        np.testing.assert_array_equal(bwd(cuda.to_device(g), y, axis).numpy(), bwd(g, fwd(x, axis), axis))
    with pytest.raises(ValueError, match="axis"):
        F.softmax(cuda.to_device(x), axis=5)
    assert F.softmax(cuda.to_device(np.float32(1))).numpy() == np.float32(1)  # 0-d: one element, as PyTorch


def test_maxout_device_path(fake, rng):
    x = rng.integers(-3, 3, (2, 6, 5)).astype(np.float32)
    y = F.maxout(cuda.to_device(x), 3)
    assert y.shape == (2, 2, 5)
    np.testing.assert_array_equal(y.numpy(), F.maxout(x, 3))
    g = rng.standard_normal((2, 2, 5)).astype(np.float32)
    np.testing.assert_array_equal(F.maxout_backward(cuda.to_device(g), cuda.to_device(x), 3).numpy(),
                                  F.maxout_backward(g, x, 3))
    with pytest.raises(ValueError, match="pieces: 4 does not divide"):
        F.maxout(cuda.to_device(x), 4)
    with pytest.raises(ValueError, match="grad_out: expected shape"):
        F.maxout_backward(cuda.to_device(x), cuda.to_device(x), 3)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_device_path(fake, ta, tb, rng):
    a = rng.integers(-3, 4, (7, 5) if ta else (5, 7)).astype(np.float32)
    b = rng.integers(-3, 4, (3, 7) if tb else (7, 3)).astype(np.float32)
    ref = (a.T if ta else a) @ (b.T if tb else b)
    c = cuda.matmul(cuda.to_device(a), cuda.to_device(b), trans_a=ta, trans_b=tb)
    assert c.shape == (5, 3)
    np.testing.assert_array_equal(c.numpy(), ref)
    out = cuda.to_device(np.ones((5, 3), np.float32))
    assert cuda.matmul(cuda.to_device(a), cuda.to_device(b), trans_a=ta, trans_b=tb, alpha=2, beta=-1,
                       out=out) is out
    np.testing.assert_array_equal(out.numpy(), 2 * ref - 1)


def test_matmul_and_linear_errors(fake):
    a = cuda.to_device(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"op\(a\) is 3x4 .* op\(b\) is 5x6"):
        cuda.matmul(a, cuda.to_device(np.ones((5, 6), np.float32)))
    with pytest.raises(ValueError, match=r"op\(a\) is 3x4 .* op\(b\) is 5x1"):  # a 1-D b is a column
        cuda.matmul(a, cuda.to_device(np.ones(5, np.float32)))
    assert cuda.matmul(a, cuda.to_device(np.ones(4, np.float32))).shape == (3,)
    with pytest.raises(ValueError, match="shares memory with a"):
        cuda.matmul(a, cuda.to_device(np.ones((4, 4), np.float32)), out=a)
    with pytest.raises(ValueError, match="beta"):
        cuda.matmul(a, a, trans_b=True, beta=0.5)
    with pytest.raises(TypeError, match="alpha"):
        cuda.matmul(a, a, trans_b=True, alpha="2")
    with pytest.raises(ValueError, match="activation"):
        cuda.linear(a, a, activation="swish")
    with pytest.raises(ValueError, match=r"bias: expected shape \(3,\)"):
        cuda.linear(a, a, cuda.to_device(np.ones(4, np.float32)))
    with pytest.raises(ValueError, match=r"x's last dimension 4 .* in_features 3"):
        cuda.linear(a, cuda.to_device(np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"out: expected shape \(3, 3\)"):
        cuda.linear(a, a, out=cuda.empty((3, 4)))


@pytest.mark.parametrize("activation", [None, "relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "sigmoid", "tanh"])
def test_linear_device_path(fake, activation, rng):
    x = rng.standard_normal((2, 3, 6)).astype(np.float32)
    w = rng.standard_normal((4, 6)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    pre = (x.reshape(-1, 6).astype(np.float64) @ w.T + b).astype(np.float32).reshape(2, 3, 4)
    cpu = {None: lambda v: v, "relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "gelu": F.gelu,
           "gelu_tanh": lambda v: F.gelu(v, "tanh"), "sigmoid": F.sigmoid, "tanh": F.tanh}[activation]
    y = cuda.linear(cuda.to_device(x), cuda.to_device(w), cuda.to_device(b), activation)
    assert y.shape == (2, 3, 4)
    assert_close(y.numpy(), cpu(pre), 1e-6, 1e-6)
    out = cuda.empty((2, 3, 4))
    cuda.linear(cuda.to_device(x), cuda.to_device(w), None, "leaky_relu", activation_param=0.5, out=out)
    assert_close(out.numpy(), F.leaky_relu((x.reshape(-1, 6) @ w.T).reshape(2, 3, 4), 0.5), 1e-5, 1e-5)


def test_matmul_precision_reaches_the_kernel(fake, monkeypatch):
    seen = []
    real = _core.gemm
    monkeypatch.setattr(fake, "cuda_gemm", lambda *args: (seen.append(args[-1]), real(*args)), raising=False)
    a = cuda.to_device(np.ones((2, 2), np.float32))
    before = cuda.get_matmul_precision()
    try:
        cuda.set_matmul_precision("tf32")
        cuda.matmul(a, a)
        cuda.set_matmul_precision("float32")
        cuda.matmul(a, a)
    finally:
        cuda.set_matmul_precision(before)
    assert seen == [_core.GemmPrecision.tf32, _core.GemmPrecision.fp32]


@pytest.mark.skipif(not _core.cuda_built, reason="needs a build with CUDA kernels")
def test_dlpack_capsules_without_a_gpu():
    """DLPack export and import touch no CUDA call: check capsule names, shapes and lifetimes."""
    class Owner:
        pass
    host = np.arange(6, dtype=np.float32)
    owner = Owner()
    owner.arr = host
    alive = weakref.ref(owner)
    mem = _core.cuda_wrap(host.ctypes.data, host.nbytes, 0, owner)
    del owner
    cap = _core.cuda_to_dlpack(mem, [2, 3], 2, 32)
    del mem
    gc.collect()
    assert alive() is not None  # the capsule keeps the memory's owner alive
    mem2, shape, code, bits, strides = _core.cuda_from_dlpack(cap)
    assert shape == (2, 3) and (code, bits) == (2, 32) and strides is None
    assert mem2.ptr == host.ctypes.data and mem2.nbytes == 24 and mem2.device == 0 and not mem2.cached
    with pytest.raises(ValueError, match="unconsumed"):
        _core.cuda_from_dlpack(cap)  # renamed 'used_dltensor' by the first import
    del cap
    gc.collect()
    assert alive() is not None  # now mem2 holds it, through the producer's deleter
    del mem2
    gc.collect()
    assert alive() is None
    # a capsule nobody consumed frees its memory when it dies
    owner = Owner()
    alive = weakref.ref(owner)
    cap = _core.cuda_to_dlpack(_core.cuda_wrap(host.ctypes.data, 24, 0, owner), [6], 2, 32)
    del owner
    gc.collect()
    assert alive() is not None
    del cap
    gc.collect()
    assert alive() is None
    with pytest.raises(TypeError, match="expected a CUDA tensor, got DLPack device type 1"):
        _core.cuda_from_dlpack(np.arange(3.0).__dlpack__())


def test_bench_cases_run(fake, monkeypatch):
    """The CUDA benchmark module builds and runs its cases (here on the stand-in, tiny shapes)."""
    from fastlayers._bench import cuda as bench
    monkeypatch.setattr(bench, "_core", fake)
    monkeypatch.setattr(fake, "cuda_time_ms", lambda fn, repeat, device: [fn() for _ in range(repeat)] and 1.0,
                        raising=False)
    act, _ = bench._specs(True)
    monkeypatch.setattr(bench, "_specs", lambda quick: ([(n, (4, 1024) if "softmax" in n else (64,), f, t)
                                                         for n, _, f, t in act], [8]))
    monkeypatch.setattr(bench, "_torch_cuda", lambda: None)
    cases = bench.cases(True)
    assert [c.op for c in cases] == ["cuda relu", "cuda sigmoid", "cuda gelu", "cuda softmax(rows of 1024)",
                                     "cuda sgemm float32", "cuda sgemm tf32"]
    for c in cases:
        c.ours()
        if c.numpy:
            c.numpy()
    lines = []
    rows = bench.event_table(True, echo=lines.append)
    assert len(rows) == 6 and len(lines) == 7
    assert all(r["kernel_ms"] == 1.0 for r in rows)
    assert cuda.get_matmul_precision() == "float32"


def test_functional_gemm_ops_route_device_arrays(fake, rng):
    """functional.matmul / linear / linear_backward run on the device their inputs live on."""
    x = rng.integers(-3, 4, (2, 3, 6)).astype(np.float32)
    w = rng.integers(-3, 4, (4, 6)).astype(np.float32)
    b = rng.integers(-3, 4, 4).astype(np.float32)
    dx, dw, db = (cuda.to_device(v) for v in (x, w, b))
    c = F.matmul(cuda.to_device(x[0]), dw, trans_b=True)
    assert isinstance(c, cuda.Array)
    np.testing.assert_array_equal(c.numpy(), x[0] @ w.T)
    y = F.linear(dx, dw, db, ("leaky_relu", 0.5))
    np.testing.assert_array_equal(y.numpy(), F.linear(x, w, b, ("leaky_relu", 0.5)))
    assert_close(F.linear(dx, dw, db, ("gelu", "tanh")).numpy(), F.linear(x, w, b, ("gelu", "tanh")), 1e-6, 1e-6)
    g = rng.integers(-3, 4, (2, 3, 4)).astype(np.float32)
    gx, gw, gb = F.linear_backward(cuda.to_device(g), dx, dw)
    rx, rw, rb = F.linear_backward(g, x, w)
    for got, ref in ((gx, rx), (gw, rw), (gb, rb)):
        assert isinstance(got, cuda.Array)
        np.testing.assert_array_equal(got.numpy(), ref)
    with pytest.raises(TypeError, match="mixing devices"):
        F.linear(x, dw)
    with pytest.raises(TypeError, match="mixing devices"):
        F.matmul(cuda.to_device(x[0]), w.T)


@pytest.mark.parametrize("name", ["ReLU", "Sigmoid", "Tanh", "GELU", "ELU", "LeakyReLU", "Softmax", "LogSoftmax"])
def test_activation_modules_run_on_device_arrays(fake, name, rng):
    from fastlayers import nn
    x = rng.standard_normal((4, 7)).astype(np.float32)
    g = rng.standard_normal((4, 7)).astype(np.float32)
    cpu, dev = getattr(nn, name)(), getattr(nn, name)()
    y = dev(cuda.to_device(x))
    assert isinstance(y, cuda.Array)
    assert_close(y.numpy(), cpu(x), 1e-6, 1e-6)
    dx = dev.backward(cuda.to_device(g))
    assert isinstance(dx, cuda.Array)
    assert_close(dx.numpy(), cpu.backward(g), 1e-6, 1e-6)
