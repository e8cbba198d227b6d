"""fastlayers.cuda: device arrays, the CUDA activation kernels, SGEMM, device dispatch.

Tests marked `cuda` need a usable GPU (conftest skips them otherwise): they check the CUDA
kernels against the CPU kernels (the reference) and float64 oracles. The unmarked tests run
everywhere and check that without a GPU every entry point fails with a clear RuntimeError,
and that mixing CPU and GPU arrays is a TypeError naming the arguments.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
from fastlayers import _core, cuda
from fastlayers._backend import device_of

import reference
from helpers import assert_close

from helpers import FakeGpuArray, no_gpu  # noqa: F401 (FakeGpuArray: used below)


class FakeDlpackGpu:
    def __dlpack_device__(self):
        return (2, 0)


# ---- everywhere: availability, errors without a GPU, device mixing -----------------------------

def test_probe_is_consistent():
    count, reason = _core.cuda_probe()
    assert cuda.device_count() == count
    assert cuda.is_available() == (count > 0)
    assert isinstance(reason, str)
    assert (reason == "") == (count > 0)
    info = fastlayers.info()
    assert info["cuda_available"] == cuda.is_available()
    assert info["cuda_built"] == bool(_core.cuda_built)


@no_gpu
def test_unavailable_says_why():
    assert cuda.is_available() is False
    assert cuda.device_count() == 0
    reason = cuda.unavailable_reason()
    assert isinstance(reason, str) and len(reason) > 10
    if not _core.cuda_built:
        assert "without CUDA" in reason


@no_gpu
@pytest.mark.parametrize("call", [
    lambda: cuda.to_device(np.ones(3, np.float32)),
    lambda: cuda.to_device([1.0, 2.0], device=0),
    lambda: cuda.empty((2, 3)),
    lambda: cuda.asarray(FakeGpuArray()),
    lambda: cuda.from_dlpack(FakeDlpackGpu()),
    lambda: cuda.synchronize(),
    lambda: cuda.empty_cache(),
    lambda: cuda.memory_stats(),
    lambda: cuda.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)),
    lambda: cuda.matmul(FakeGpuArray((2, 2)), FakeGpuArray((2, 2)), trans_b=True),
    lambda: cuda.linear(FakeGpuArray((2, 4)), FakeGpuArray((3, 4)), activation="relu"),
    lambda: F.relu(FakeGpuArray()),
    lambda: F.gelu(FakeGpuArray(), "tanh"),
    lambda: F.sigmoid_backward(FakeGpuArray(), FakeGpuArray()),
    lambda: F.softmax(FakeGpuArray((2, 2)), axis=0),
    lambda: F.log_softmax_backward(FakeGpuArray((2, 2)), FakeGpuArray((2, 2))),
    lambda: F.maxout(FakeGpuArray((2, 4)), 2),
    lambda: F.maxout_backward(FakeGpuArray((2, 2)), FakeGpuArray((2, 4)), 2),
    lambda: F.relu(FakeDlpackGpu()),
], ids=lambda f: "")
def test_entry_points_raise_runtime_error_without_gpu(call):
    with pytest.raises(RuntimeError, match="CUDA is not available: .+"):
        call()


@no_gpu
def test_core_entry_points_raise_runtime_error_without_gpu():
    with pytest.raises(RuntimeError, match=r"\w+"):
        _core.cuda_alloc(16, 0)
    with pytest.raises(RuntimeError):
        _core.cuda_synchronize(0)
    with pytest.raises(RuntimeError):
        _core.cuda_device_info(0)


@pytest.mark.skipif(bool(_core.cuda_built), reason="build without CUDA kernels only")
@pytest.mark.parametrize("name", sorted(n for n in dir(_core) if n.startswith("cuda_") and n not in ("cuda_probe",
                                                                                               "cuda_built")))
def test_every_core_entry_point_raises_in_a_build_without_cuda(name):
    """Whatever the arguments: RuntimeError naming the build, or pybind11's TypeError for
    arguments of the wrong types (typed enums and shape structs); never a crash."""
    with pytest.raises((RuntimeError, TypeError)) as e:
        getattr(_core, name)(0, 1, 2)
    if e.type is RuntimeError:
        assert "built without CUDA kernels" in str(e.value)


@pytest.mark.parametrize("gpu_like", [FakeGpuArray, FakeDlpackGpu])
def test_mixing_cpu_and_gpu_arrays_is_a_type_error(gpu_like):
    x = np.ones(4, np.float32)
    g = gpu_like()
    cases = [
        (lambda: F.relu(x, out=g), "out"),
        (lambda: F.leaky_relu(g, 0.1, out=x), "out"),
        (lambda: F.elu_backward(g, x), "x"),
        (lambda: F.sigmoid_backward(x, g), "y"),
        (lambda: F.gelu_backward(g, x, "tanh"), "x"),
        (lambda: F.softmax(x, out=g), "out"),
        (lambda: F.softmax_backward(g, x), "y"),
        (lambda: F.log_softmax_backward(x, g), "grad_out"),
        (lambda: F.maxout(x, 2, axis=0, out=g), "out"),
        (lambda: F.maxout_backward(g, x, 2, axis=0), "x"),
    ]
    for call, name in cases:
        with pytest.raises(TypeError, match=f"mixing devices: .*{name}"):
            call()


def test_device_of():
    x = np.ones(3, np.float32)
    assert device_of(a=x, b=[1.0, 2.0, 3.0], out=None) is None
    assert device_of() is None
    with pytest.raises(TypeError, match="a on the GPU but b on the CPU"):
        device_of(a=FakeDlpackGpu(), b=x)
    assert device_of(a=FakeDlpackGpu(), b=FakeDlpackGpu(), c=None) == 0


def test_device_of_torch_cpu_tensor_is_cpu(torch):
    t = torch.arange(6, dtype=torch.float32)
    assert device_of(x=t) is None
    assert_close(F.relu(t - 2), np.maximum(np.arange(6) - 2, 0))


def test_matmul_precision_setting():
    before = cuda.get_matmul_precision()
    try:
        assert before == "float32"
        cuda.set_matmul_precision("tf32")
        assert cuda.get_matmul_precision() == "tf32"
        cuda.set_matmul_precision("highest")
        assert cuda.get_matmul_precision() == "float32"
        with pytest.raises(ValueError, match="precision: expected one of"):
            cuda.set_matmul_precision("bf16")
    finally:
        cuda.set_matmul_precision(before)


# ---- on a GPU: device arrays --------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (3, 5, 4), (2, 0, 3), (1000, 33)])
def test_round_trip(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    d = cuda.to_device(x)
    assert isinstance(d, cuda.Array)
    assert d.shape == x.shape and d.dtype == np.float32 and d.size == x.size and d.ndim == x.ndim
    assert d.device == 0 and d.nbytes == x.nbytes
    np.testing.assert_array_equal(d.numpy(), x)
    np.testing.assert_array_equal(d.copy().numpy(), x)


@pytest.mark.cuda
def test_to_device_converts_once_and_rejects_complex(rng):
    x = rng.integers(-5, 5, (4, 3))
    d = cuda.to_device(x)
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d.numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(cuda.to_device(x.T).numpy(), x.T.astype(np.float32))
    with pytest.raises(TypeError, match="complex"):
        cuda.to_device(np.ones(3, np.complex64))
    with pytest.raises(ValueError, match="device"):
        cuda.to_device(x, device=cuda.device_count())


@pytest.mark.cuda
def test_reshape_interface_and_cache():
    x = np.arange(24, dtype=np.float32)
    d = cuda.to_device(x)
    r = d.reshape(2, -1, 3)
    assert r.shape == (2, 4, 3) and r.data_ptr == d.data_ptr
    np.testing.assert_array_equal(r.numpy(), x.reshape(2, 4, 3))
    with pytest.raises(ValueError, match="cannot reshape"):
        d.reshape(5, 5)
    cai = d.__cuda_array_interface__
    assert cai["version"] == 3 and cai["shape"] == (24,) and cai["typestr"] == "<f4"
    assert cai["data"] == (d.data_ptr, False) and cai["strides"] is None
    assert d.__dlpack_device__() == (2, 0)
    assert cuda.asarray(d) is d
    stats = cuda.memory_stats()
    assert stats["in_use"] >= 24 * 4
    del d, r
    cuda.empty_cache()
    assert cuda.memory_stats()["cached"] == 0


@pytest.mark.cuda
def test_caching_allocator_reuses_blocks():
    cuda.to_device(np.zeros(1000, np.float32))  # freed at once, back to the cache
    before = cuda.memory_stats()["mallocs"]
    for _ in range(5):
        cuda.to_device(np.zeros(1000, np.float32))
    assert cuda.memory_stats()["mallocs"] == before


@pytest.mark.cuda
def test_dlpack_and_cai_with_torch(torch, rng):
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    x = rng.standard_normal((5, 6)).astype(np.float32)
    d = cuda.to_device(x)
    t = torch.from_dlpack(d)  # zero copy: torch sees our memory
    assert t.is_cuda and t.data_ptr() == d.data_ptr and tuple(t.shape) == (5, 6)
    t.mul_(2)
    torch.cuda.synchronize()
    np.testing.assert_array_equal(d.numpy(), 2 * x)
    # and back: a torch CUDA tensor wraps without a copy, by CAI or by DLPack
    u = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    a = cuda.asarray(u)
    assert a.data_ptr == u.data_ptr() and a.shape == (3, 4)
    b = cuda.from_dlpack(u)
    assert b.data_ptr == u.data_ptr()
    np.testing.assert_array_equal(b.numpy(), np.arange(12, dtype=np.float32).reshape(3, 4))
    # functional ops accept torch tensors and return an Array; out= may be a torch tensor
    y = F.relu(u - 5)
    assert isinstance(y, cuda.Array)
    np.testing.assert_array_equal(y.numpy(), np.maximum(np.arange(12).reshape(3, 4) - 5, 0))
    o = torch.empty_like(u)
    F.sigmoid(u, out=o)
    torch.cuda.synchronize()
    assert_close(o.cpu().numpy(), F.sigmoid(np.arange(12, dtype=np.float32).reshape(3, 4)), 4e-6, 1e-7)
    ut = cuda.asarray(u.t())  # a transposed view: copied once into a contiguous Array
    assert ut.shape == (4, 3) and ut.data_ptr != u.data_ptr()
    np.testing.assert_array_equal(ut.numpy(), np.arange(12, dtype=np.float32).reshape(3, 4).T)
    np.testing.assert_array_equal(cuda.from_dlpack(u[:, 1::2]).numpy(),
                                  np.arange(12, dtype=np.float32).reshape(3, 4)[:, 1::2])
    np.testing.assert_array_equal(F.relu(u.t() - 5).numpy(), np.maximum(np.arange(12).reshape(3, 4).T - 5, 0))
    np.testing.assert_array_equal(F.relu(u.double() - 5).numpy(),  # float64: converted once on the device
                                  np.maximum(np.arange(12).reshape(3, 4) - 5, 0))
    np.testing.assert_array_equal(F.relu(u.half() - 5).numpy(), np.maximum(np.arange(12).reshape(3, 4) - 5, 0))
    with pytest.raises(TypeError, match="out: expected a float32"):
        F.relu(u, out=u.double())


# ---- on a GPU: activations against the CPU kernels ---------------------------------------------

def _special_values(rng, n=4099):
    x = (rng.standard_normal(n) * 6).astype(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 88.7, -88.7, 89.5, -104.0, 1e-40, -1e-40, 1e-30,
                        20.0, -20.0, 9.0, -9.0, 3.4e38, -3.4e38], np.float32)
    x[:special.size] = special
    return x


UNARY = [
    ("sigmoid", lambda x, **k: F.sigmoid(x, **k), lambda g, x, y, **k: F.sigmoid_backward(g, y, **k)),
    ("tanh", lambda x, **k: F.tanh(x, **k), lambda g, x, y, **k: F.tanh_backward(g, y, **k)),
    ("relu", lambda x, **k: F.relu(x, **k), lambda g, x, y, **k: F.relu_backward(g, x, **k)),
    ("leaky_relu", lambda x, **k: F.leaky_relu(x, 0.2, **k),
     lambda g, x, y, **k: F.leaky_relu_backward(g, x, 0.2, **k)),
    ("elu", lambda x, **k: F.elu(x, 1.5, **k), lambda g, x, y, **k: F.elu_backward(g, x, 1.5, **k)),
    ("gelu", lambda x, **k: F.gelu(x, **k), lambda g, x, y, **k: F.gelu_backward(g, x, **k)),
    ("gelu_tanh", lambda x, **k: F.gelu(x, "tanh", **k), lambda g, x, y, **k: F.gelu_backward(g, x, "tanh", **k)),
]


def _same(actual, expected, rtol=4e-6, atol=1e-7):
    """Equal up to a few ulp, NaN where the reference has NaN, infinities equal."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.cuda
@pytest.mark.parametrize("name,fwd,bwd", UNARY, ids=[u[0] for u in UNARY])
def test_unary_matches_cpu(name, fwd, bwd, rng):
    before = fastlayers.get_isa()
    fastlayers.set_isa("scalar")  # the CPU reference kernels
    try:
        x = _special_values(rng)
        g = rng.standard_normal(x.size).astype(np.float32)
        y = fwd(x)
        dx = bwd(g, x, y)
        dxd, dgd = cuda.to_device(x), cuda.to_device(g)
        yd = fwd(dxd)
        assert isinstance(yd, cuda.Array)
        _same(yd.numpy(), y)
        _same(bwd(dgd, dxd, cuda.to_device(y)).numpy(), dx, rtol=1e-5, atol=1e-6)
        # out= and in place; odd offsets exercise the scalar tail of the float4 loop
        for n in (1, 3, 5, 1027):
            part = cuda.to_device(x[:n])
            fwd(part, out=part)
            _same(part.numpy(), y[:n])
    finally:
        fastlayers.set_isa(before)


@pytest.mark.cuda
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((5, 37, 9), 0), ((5, 37, 9), 1), ((5, 37, 9), 2),
                                        ((3, 3000), 1), ((3, 3000), 0), ((2, 1, 4), 1), ((4, 0, 3), 2)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_oracle(shape, axis, log, rng):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    fwd, bwd = (F.log_softmax, F.log_softmax_backward) if log else (F.softmax, F.softmax_backward)
    oracle = reference.log_softmax if log else reference.softmax
    yd = fwd(cuda.to_device(x), axis)
    assert_close(yd.numpy(), oracle(x, axis) if x.size else x, 1e-5, 1e-6, what="forward")
    y = fwd(x, axis)  # the CPU result, as the saved output
    y64, g64 = y.astype(np.float64), g.astype(np.float64)
    if log:
        dx = g64 - np.exp(y64) * g64.sum(axis=axis, keepdims=True)
    else:
        dx = y64 * (g64 - (g64 * y64).sum(axis=axis, keepdims=True))
    assert_close(bwd(cuda.to_device(g), cuda.to_device(y), axis).numpy(), dx, 1e-5, 1e-5, what="backward")


@pytest.mark.cuda
def test_softmax_special_values():
    x = np.array([[0.0, 1.0, np.nan], [1e30, -1e30, 0.0], [-np.inf, 0.0, 1.0], [88.0, 88.0, -88.0]], np.float32)
    for fn in (F.softmax, F.log_softmax):
        _same(fn(cuda.to_device(x)).numpy(), fn(x))


@pytest.mark.cuda
@pytest.mark.parametrize("shape,pieces,axis", [((2, 6, 5), 3, 1), ((4, 9), 3, 1), ((8, 3), 2, 0), ((2, 3, 4), 4, 2),
                                               ((3, 4, 1), 1, 1)])
def test_maxout_matches_cpu(shape, pieces, axis, rng):
    x = rng.integers(-3, 3, shape).astype(np.float32)  # many ties: the first maximum must win
    x.reshape(-1)[::7] = np.nan
    out_shape = F.maxout(x, pieces, axis).shape
    g = rng.standard_normal(out_shape).astype(np.float32)
    _same(F.maxout(cuda.to_device(x), pieces, axis).numpy(), F.maxout(x, pieces, axis))
    np.testing.assert_array_equal(F.maxout_backward(cuda.to_device(g), cuda.to_device(x), pieces, axis).numpy(),
                                  F.maxout_backward(g, x, pieces, axis))
    with pytest.raises(ValueError, match="pieces"):
        F.maxout(cuda.to_device(np.ones((2, 5), np.float32)), 2)


@pytest.mark.cuda
def test_device_out_checks():
    d = cuda.to_device(np.ones(8, np.float32))
    with pytest.raises(ValueError, match=r"out: expected shape \(8,\)"):
        F.relu(d, out=cuda.empty((4,)))
    with pytest.raises(TypeError, match="mixing devices"):
        F.relu(d, out=np.empty(8, np.float32))
    with pytest.raises(ValueError, match="partially overlaps"):
        F.relu(d.reshape(2, 4), out=_shifted(d))


def _shifted(d):
    """A view of d's memory starting one element in (through CAI), as out= for a partial overlap."""
    class View:
        __cuda_array_interface__ = {"shape": (2, 4), "typestr": "<f4", "data": (d.data_ptr + 4, False),
                                    "version": 3, "strides": None}
    return View()


# ---- on a GPU: SGEMM ---------------------------------------------------------------------------

SIZES = [(1, 1, 1), (7, 59, 97), (129, 97, 59), (1000, 7, 129), (59, 1000, 1), (97, 129, 1000), (128, 128, 8),
         (127, 129, 9), (256, 384, 72), (1, 1000, 7), (1000, 1, 59)]
TRANS = [(False, False), (True, False), (False, True), (True, True)]


def _operands(rng, m, n, k, ta, tb, integers=False):
    make = (lambda s: rng.integers(-3, 4, s).astype(np.float32)) if integers else \
        (lambda s: rng.standard_normal(s).astype(np.float32))
    a = make((k, m) if ta else (m, k))
    b = make((n, k) if tb else (k, n))
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    return a, b, ref


@pytest.fixture
def precision():
    """Restores the matmul precision after the test."""
    before = cuda.get_matmul_precision()
    yield cuda.set_matmul_precision
    cuda.set_matmul_precision(before)


@pytest.mark.cuda
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", SIZES)
def test_sgemm_exact_on_small_integers(m, n, k, ta, tb, rng, precision):
    precision("float32")
    a, b, ref = _operands(rng, m, n, k, ta, tb, integers=True)
    got = cuda.matmul(cuda.to_device(a), cuda.to_device(b), trans_a=ta, trans_b=tb).numpy()
    np.testing.assert_array_equal(got, ref.astype(np.float32))


@pytest.mark.cuda
@pytest.mark.parametrize("ta,tb", TRANS)
@pytest.mark.parametrize("m,n,k", SIZES)
def test_sgemm_float64_oracle(m, n, k, ta, tb, rng, precision):
    precision("float32")
    a, b, ref = _operands(rng, m, n, k, ta, tb)
    got = cuda.matmul(cuda.to_device(a), cuda.to_device(b), trans_a=ta, trans_b=tb).numpy()
    # float32 accumulation of k products: error ~ sqrt(k) ulp of the row-column scale
    tol = 4 * np.finfo(np.float32).eps * np.sqrt(k) * np.sqrt(k)
    assert np.abs(got - ref).max() <= tol + 1e-6, np.abs(got - ref).max()


@pytest.mark.cuda
@pytest.mark.parametrize("ta,tb", TRANS)
def test_sgemm_tf32(ta, tb, rng, precision):
    precision("tf32")
    for m, n, k in [(129, 97, 1000), (1000, 7, 129), (256, 384, 72), (1, 1, 1)]:
        a, b, ref = _operands(rng, m, n, k, ta, tb)
        got = cuda.matmul(cuda.to_device(a), cuda.to_device(b), trans_a=ta, trans_b=tb).numpy()
        # TF32 rounds each input to a 10-bit mantissa (relative error <= 2^-11), so each product is
        # off by at most about 2^-10 of its size: |error| <= 2^-9 * (|opA| @ |opB|) bounds it with
        # room for the FP32 accumulation.
        bound = 2.0 ** -9 * (np.abs(a.T if ta else a).astype(np.float64) @ np.abs(b.T if tb else b)) + 1e-6
        err = np.abs(got - ref).max()
        assert np.all(np.abs(got - ref) <= bound), (m, n, k, err)
        # and TF32 is really coarser than float32 where k is large
        if k >= 1000:
            assert err > 10 * np.finfo(np.float32).eps


@pytest.mark.cuda
def test_sgemm_alpha_beta_and_k0(rng, precision):
    precision("float32")
    a, b, ref = _operands(rng, 97, 59, 33, False, False, integers=True)
    c0 = rng.integers(-3, 4, (97, 59)).astype(np.float32)
    c = cuda.to_device(c0)
    res = cuda.matmul(cuda.to_device(a), cuda.to_device(b), alpha=2.0, beta=-0.5, out=c)
    assert res is c
    np.testing.assert_array_equal(c.numpy(), (2 * ref - 0.5 * c0).astype(np.float32))
    # beta = 0 never reads out: NaN in it does not leak
    nan = cuda.to_device(np.full((97, 59), np.nan, np.float32))
    np.testing.assert_array_equal(cuda.matmul(cuda.to_device(a), cuda.to_device(b), out=nan).numpy(),
                                  ref.astype(np.float32))
    # K = 0: alpha * 0 + beta * C
    z = cuda.matmul(cuda.to_device(np.ones((4, 0), np.float32)), cuda.to_device(np.ones((0, 3), np.float32)),
                    beta=3.0, out=cuda.to_device(np.ones((4, 3), np.float32)))
    np.testing.assert_array_equal(z.numpy(), np.full((4, 3), 3.0, np.float32))


@pytest.mark.cuda
@pytest.mark.parametrize("activation", [None, "relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "sigmoid", "tanh"])
@pytest.mark.parametrize("tf32", [False, True])
def test_linear_fused_epilogue(activation, tf32, rng, precision):
    precision("tf32" if tf32 else "float32")
    x = rng.standard_normal((3, 43, 70)).astype(np.float32)
    w = rng.standard_normal((37, 70)).astype(np.float32) / 8
    bias = rng.standard_normal(37).astype(np.float32)
    pre = x.astype(np.float64) @ w.T.astype(np.float64) + bias
    cpu = {None: lambda v: v, "relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "gelu": F.gelu,
           "gelu_tanh": lambda v: F.gelu(v, "tanh"), "sigmoid": F.sigmoid, "tanh": F.tanh}[activation]
    ref = np.asarray(cpu(pre.astype(np.float32)), np.float64)
    y = cuda.linear(cuda.to_device(x), cuda.to_device(w), cuda.to_device(bias), activation)
    assert y.shape == (3, 43, 37)
    tol = 2e-2 if tf32 else 2e-5
    assert_close(y.numpy(), ref, tol, tol, what=str(activation))


@pytest.mark.cuda
def test_linear_backward_on_device_accumulates(rng, precision):
    """functional.linear_backward on device arrays: the CPU's results, need_input=False, and
    grad_weight / grad_bias added into in place."""
    precision("float32")
    x = rng.integers(-2, 3, (3, 11, 57)).astype(np.float32)
    w = rng.integers(-2, 3, (49, 57)).astype(np.float32)
    g = rng.integers(-2, 3, (3, 11, 49)).astype(np.float32)
    ex, ew, eb = F.linear_backward(g, x, w)
    gx, gw, gb = F.linear_backward(cuda.to_device(g), cuda.to_device(x), cuda.to_device(w))
    np.testing.assert_array_equal(gx.numpy(), ex)
    np.testing.assert_array_equal(gw.numpy(), ew)
    np.testing.assert_array_equal(gb.numpy(), eb)
    w0, b0 = rng.integers(-2, 3, (49, 57)).astype(np.float32), rng.integers(-2, 3, 49).astype(np.float32)
    into_w, into_b = cuda.to_device(w0), cuda.to_device(b0)
    gx, gw, gb = F.linear_backward(cuda.to_device(g), cuda.to_device(x), cuda.to_device(w), need_input=False,
                                   grad_weight=into_w, grad_bias=into_b)
    assert gx is None and gw is into_w and gb is into_b
    np.testing.assert_array_equal(into_w.numpy(), w0 + ew)
    np.testing.assert_array_equal(into_b.numpy(), b0 + eb)


@pytest.mark.cuda
def test_sgemm_misaligned_operands(torch, rng, precision):
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    precision("float32")
    m, n, k = 67, 45, 33
    a, b, ref = _operands(rng, m, n, k, False, False, integers=True)
    base_a = torch.zeros(1 + a.size, device="cuda")
    base_a[1:] = torch.from_numpy(a.reshape(-1)).cuda()
    base_b = torch.zeros(3 + b.size, device="cuda")
    base_b[3:] = torch.from_numpy(b.reshape(-1)).cuda()
    got = cuda.matmul(base_a[1:].view(m, k), base_b[3:].view(k, n))
    np.testing.assert_array_equal(got.numpy(), ref.astype(np.float32))


@pytest.mark.cuda
def test_sgemm_bad_input():
    a = cuda.to_device(np.ones((3, 4), np.float32))
    b = cuda.to_device(np.ones((5, 6), np.float32))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 6\)"):
        cuda.matmul(a, b)
    with pytest.raises(ValueError, match=r"inner dimensions.*\(4,\)"):
        cuda.matmul(cuda.to_device(np.ones(4, np.float32)), b)
    sq = cuda.to_device(np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="shares memory with a"):
        cuda.matmul(sq, sq, out=sq)
    with pytest.raises(ValueError, match="beta"):
        cuda.matmul(sq, sq, beta=1.0)
    with pytest.raises(TypeError, match="mixing devices|GPU array"):
        cuda.matmul(sq, np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="activation"):
        cuda.linear(sq, sq, activation="softplus")
    with pytest.raises(ValueError, match="bias"):
        cuda.linear(sq, sq, bias=cuda.to_device(np.ones(3, np.float32)))


@pytest.mark.cuda
@pytest.mark.large
def test_relu_past_2_31_elements():
    n = 2 ** 31 + 5
    x = np.zeros(n, np.float32)
    x[-3:] = [-1.0, 2.0, -3.0]
    x[:2] = [5.0, -5.0]
    y = F.relu(cuda.to_device(x)).numpy()
    np.testing.assert_array_equal(y[-3:], [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(y[:2], [5.0, 0.0])
