"""Resample family: interpolate (nearest, nearest-exact, linear, bilinear with and without
align_corners, sizes and scale factors) and pad (constant, reflect, replicate, circular), forward
and backward on every backend against float64 oracles (reference.py), the vector kernels against
the reference ones, finite differences, PyTorch parity, the modules and the convolutions'
padding_mode, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
from fastlayers import nn

import reference as ref
from helpers import assert_close, numeric_grad

INTERP = [((2, 3, 5, 7), dict(scale_factor=2)), ((2, 3, 5, 7), dict(scale_factor=1.7, mode="bilinear")),
          ((2, 3, 5, 7), dict(size=(3, 11), mode="bilinear", align_corners=True)),
          ((1, 2, 6, 40), dict(size=(9, 33), mode="bilinear")), ((1, 2, 9), dict(scale_factor=0.6, mode="linear")),
          ((1, 2, 9), dict(size=20, mode="linear", align_corners=True)), ((1, 2, 9, 9), dict(size=4, mode="nearest-exact")),
          ((1, 2, 9, 9), dict(scale_factor=(0.5, 3.3))), ((1, 1, 4, 4), dict(scale_factor=2.5, mode="bilinear",
                                                                         recompute_scale_factor=True)),
          ((3, 2, 7, 8), dict(size=(7, 8), mode="bilinear")), ((2, 1, 1, 1), dict(size=(3, 17), mode="bilinear")),
          ((2, 2, 5, 6), dict(size=(1, 1), mode="bilinear", align_corners=True)), ((2, 3, 8), dict(scale_factor=3)),
          ((1, 3, 33, 65), dict(scale_factor=2, mode="bilinear"))]


def _out_size(shape, kw):
    if kw.get("size") is not None:
        s = kw["size"]
        return tuple(s) if isinstance(s, tuple) else (s,) * (len(shape) - 2)
    sc = kw["scale_factor"]
    sc = sc if isinstance(sc, tuple) else (sc,) * (len(shape) - 2)
    return tuple(int(np.floor(n * f)) for n, f in zip(shape[2:], sc))


def _oracle(x, kw):
    scales = None
    if kw.get("scale_factor") is not None and not kw.get("recompute_scale_factor"):
        sc = kw["scale_factor"]
        scales = sc if isinstance(sc, tuple) else (sc,) * (x.ndim - 2)
    return ref.interpolate(x, _out_size(x.shape, kw), scales, kw.get("mode", "nearest"),
                           bool(kw.get("align_corners")))


@pytest.mark.parametrize("shape,kw", INTERP)
def test_interpolate_oracle_and_backward(backend, rng, shape, kw):
    x = rng.standard_normal(shape).astype(np.float32)
    want = _oracle(x, kw)
    y = backend.F.interpolate(x, **kw)
    assert_close(y, want, 1e-6, 1e-6)
    g = rng.standard_normal(want.shape).astype(np.float32)
    dx = backend.F.interpolate_backward(g, x.shape, **kw)
    if x.size <= 200:
        assert_close(dx, numeric_grad(lambda z: _oracle(z, kw), x, g, eps=1e-3), 1e-5, 1e-5)
    # the adjoint: <interpolate(x), g> = <x, interpolate_backward(g)>
    assert_close(np.vdot(y.astype(np.float64), g), np.vdot(x.astype(np.float64), dx), 1e-5, 1e-5)


PADS = [((2, 3, 5, 7), (1, 2, 3, 1), "reflect"), ((3, 5, 7), (2, 2), "replicate"),
        ((2, 3, 5, 7), (3, 3, 1, 2), "circular"), ((2, 3, 5, 7), (1, -2, 3, 0), "constant"),
        ((2, 3, 4, 5, 6), (1, 1, 2, 2, 1, 1), "constant"), ((2, 3, 4, 5, 6), (1, 1, 2, 2, 1, 1), "reflect"),
        ((3, 40), (5, 6), "reflect"), ((2, 3, 5, 30), (4, 4, 4, 4), "replicate"),
        ((2, 3, 5, 30), (4, 4, 5, 5), "circular"), ((1, 2, 3), (7, -1), "constant"), ((2, 1, 1, 50), (0, 0, 3, 3), "replicate"),
        ((2, 3, 4, 5, 6), (3, 2, 1, 4, 2, 1), "replicate"), ((2, 2, 3, 3), (1, 1, 1, 1), "circular"),
        ((4, 6, 37), (16, 17), "constant")]


@pytest.mark.parametrize("shape,p,mode", PADS)
def test_pad_oracle_and_backward(backend, rng, shape, p, mode):
    x = rng.standard_normal(shape).astype(np.float32)
    value = 0.5 if mode == "constant" else None
    want = ref.pad(x, p, mode, value or 0.0)
    y = backend.F.pad(x, p, mode, value)
    assert_close(y, want, 0, 0)
    g = rng.standard_normal(want.shape).astype(np.float32)
    dx = backend.F.pad_backward(g, x.shape, p, mode)
    if x.size <= 100:
        assert_close(dx, numeric_grad(lambda z: ref.pad(z, p, mode, 0.5), x, g, eps=1e-3), 1e-5, 1e-5)
    assert_close(np.vdot(ref.pad(x, p, mode, 0.0), g), np.vdot(x.astype(np.float64), dx), 1e-5, 1e-5)


def test_vector_kernels_match_reference(rng):
    x = rng.standard_normal((3, 4, 23, 41)).astype(np.float32)
    cases = [lambda v: F.interpolate(v, scale_factor=1.9, mode="bilinear"),
             lambda v: F.interpolate(v, size=(50, 17), mode="bilinear", align_corners=True),
             lambda v: F.interpolate(v, size=(11, 90)), lambda v: F.pad(v, (5, 9, 2, 3), "reflect"),
             lambda v: F.pad(v, (-3, 20, 1, -4), "constant", 2.0), lambda v: F.pad(v, (17, 17, 3, 3), "circular")]
    before = fastlayers.get_isa()
    try:
        fastlayers.set_isa("scalar")
        want = [f(x) for f in cases]
        for isa in fastlayers.available_isas():
            fastlayers.set_isa(isa)
            for f, w in zip(cases, want):
                assert_close(f(x), w, 1e-6, 1e-6, isa)
    finally:
        fastlayers.set_isa(before)


def test_torch_parity(rng, torch):
    tf = torch.nn.functional
    for shape, kw in INTERP:
        x = rng.standard_normal(shape).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        ty = tf.interpolate(tx, **kw)
        g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
        ty.backward(torch.from_numpy(g))
        assert_close(F.interpolate(x, **kw), ty.detach().numpy(), 1e-6, 1e-6, str(kw))
        assert_close(F.interpolate_backward(g, x.shape, **kw), tx.grad.numpy(), 1e-5, 1e-5, str(kw))
    for shape, p, mode in PADS:
        x = rng.standard_normal(shape).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        ty = tf.pad(tx, p, mode)
        g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
        ty.backward(torch.from_numpy(g))
        assert_close(F.pad(x, p, mode), ty.detach().numpy(), 0, 0, f"{p} {mode}")
        assert_close(F.pad_backward(g, x.shape, p, mode), tx.grad.numpy(), 1e-6, 1e-6, f"{p} {mode}")


@pytest.mark.parametrize("make,tmake,shape", [
    (lambda: nn.Upsample(scale_factor=2), lambda t: t.nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    (lambda: nn.Upsample(size=(7, 9), mode="bilinear"), lambda t: t.nn.Upsample(size=(7, 9), mode="bilinear"),
     (2, 3, 4, 5)),
    (lambda: nn.UpsamplingBilinear2d(scale_factor=2), lambda t: t.nn.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 4)),
    (lambda: nn.UpsamplingNearest2d(size=5), lambda t: t.nn.UpsamplingNearest2d(size=5), (1, 2, 3, 4)),
    (lambda: nn.ReflectionPad2d(2), lambda t: t.nn.ReflectionPad2d(2), (2, 3, 4, 5)),
    (lambda: nn.ReflectionPad2d((1, 0, 2, 3)), lambda t: t.nn.ReflectionPad2d((1, 0, 2, 3)), (3, 4, 5)),
    (lambda: nn.ZeroPad2d((1, 2, 0, 3)), lambda t: t.nn.ZeroPad2d((1, 2, 0, 3)), (2, 3, 4, 5)),
    (lambda: nn.ReplicationPad2d(3), lambda t: t.nn.ReplicationPad2d(3), (2, 3, 4, 5)),
    (lambda: nn.ConstantPad1d((2, -1), 3.5), lambda t: t.nn.ConstantPad1d((2, -1), 3.5), (2, 3, 6)),
    (lambda: nn.ReflectionPad1d(3), lambda t: t.nn.ReflectionPad1d(3), (2, 3, 6)),
    (lambda: nn.CircularPad2d(1), lambda t: t.nn.CircularPad2d(1), (2, 3, 4, 5)),
], ids=["upsample", "upsample_bilinear", "bilinear2d", "nearest2d", "reflect2d", "reflect2d_unbatched", "zero2d",
        "replicate2d", "constant1d", "reflect1d", "circular2d"])
def test_modules_as_torch(make, tmake, shape, rng, torch):
    m, tm = make(), tmake(torch)
    x = rng.standard_normal(shape).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    assert_close(m(x), ty.detach().numpy(), 1e-6, 1e-6)
    assert_close(m.backward(g), tx.grad.numpy(), 1e-5, 1e-6)
    with pytest.raises(RuntimeError, match="once per forward"):
        m.backward(g)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "zeros"])
@pytest.mark.parametrize("conv,shape,kw", [
    ("Conv2d", (2, 3, 7, 8), dict(kernel_size=3, padding=1)),
    ("Conv2d", (2, 3, 7, 8), dict(kernel_size=(3, 2), padding=(2, 1), stride=2)),
    ("Conv2d", (1, 2, 6, 6), dict(kernel_size=4, padding="same")),
    ("Conv1d", (2, 3, 9), dict(kernel_size=3, padding=2, dilation=2)),
    ("Conv1d", (2, 3, 9), dict(kernel_size=3, padding="valid")),
])
def test_conv_padding_mode_as_torch(conv, shape, kw, mode, rng, torch):
    fastlayers.manual_seed(0)
    m = getattr(nn, conv)(shape[1], 4, padding_mode=mode, **kw)
    tm = getattr(torch.nn, conv)(shape[1], 4, padding_mode=mode, **kw)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    x = rng.standard_normal(shape).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    assert_close(m(x), ty.detach().numpy(), 1e-5, 1e-5)
    assert_close(m.backward(g), tx.grad.numpy(), 1e-5, 1e-5)
    assert_close(m.weight.grad, tm.weight.grad.numpy(), 1e-4, 1e-5)
    assert_close(m.bias.grad, tm.bias.grad.numpy(), 1e-5, 1e-5)


def test_bad_input():
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="exactly one"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match="'linear' needs a 3-D input"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match="mode"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(ValueError, match="greater than 0"):
        F.interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match="scale_factor"):
        F.interpolate(x, scale_factor=float("inf"))
    with pytest.raises(ValueError, match=r"size: expected 2 values"):
        F.interpolate(x, size=(2, 3, 4))
    with pytest.raises(ValueError, match="grad_out"):
        F.interpolate_backward(np.zeros((1, 2, 3, 3), np.float32), x.shape, size=4)
    with pytest.raises(ValueError, match="less than the corresponding input dimension"):
        F.pad(x, (4, 0, 0, 0), "reflect")
    with pytest.raises(ValueError, match="wrapping around"):
        F.pad(x, (0, 5, 0, 0), "circular")
    with pytest.raises(ValueError, match="needs a 2-D or 3-D input"):
        F.pad(x, (1, 1), "reflect")
    with pytest.raises(ValueError, match="needs a 3-D or 4-D input"):
        F.pad(np.zeros((4, 4), np.float32), (1, 1, 1, 1), "replicate")
    with pytest.raises(ValueError, match="even number"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="negative"):
        F.pad(x, (-5, 0))
    with pytest.raises(ValueError, match="doesn't take a value"):
        F.pad(x, (1, 1), "reflect", 2.0)
    with pytest.raises(TypeError, match="pad"):
        F.pad(x, (1.5, 1))
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(2, 2, 3, padding_mode="mirror")
    assert F.pad(np.zeros((0, 3, 4), np.float32), (1, 1, 2, 2), "reflect").shape == (0, 7, 6)
    assert F.interpolate(np.zeros((0, 2, 3, 3), np.float32), scale_factor=2).shape == (0, 2, 6, 6)
