"""Norm family: batch_norm forward (training and eval, running statistics) and backward, on
every ISA level, against float64 oracles, finite differences and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.functional as F
from fastlayers import nn
import reference as ref
from helpers import assert_close, numeric_grad

# (N, C), (N, C, L) and (N, C, H, W); L of 1, below, equal to and above the vector widths;
# (N, C) over several blocks of rows with channels past whole vectors; planes large enough that
# a thread's channels run in several chunks (of one channel; of three, the last one short).
SHAPES = [(8, 5), (1, 3, 7), (4, 20, 16), (3, 4, 59), (2, 3, 7, 9), (5, 2, 1, 1), (2, 17, 6, 6), (150, 37),
          (2, 6, 128, 130), (2, 13, 100, 100)]


def data(rng, shape, offset=3.0):
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + offset).astype(np.float32)
    w = rng.standard_normal(C).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("shape", SHAPES)
def test_training_forward_and_running_stats(backend, rng, shape):
    x, w, b = data(rng, shape)
    C = shape[1]
    rm = rng.standard_normal(C).astype(np.float32)
    rv = rng.uniform(0.5, 2, C).astype(np.float32)
    rm0, rv0 = rm.astype(np.float64), rv.astype(np.float64)
    y, mean, invstd = backend.F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2, return_stats=True)
    assert_close(y, ref.batch_norm(x, weight=w, bias=b), rtol=1e-5, atol=2e-5)
    axes = (0,) + tuple(range(2, x.ndim))
    x64 = x.astype(np.float64)
    m = x64.size // C
    assert_close(mean, x64.mean(axis=axes), rtol=1e-6, atol=1e-6)
    assert_close(invstd, 1 / np.sqrt(x64.var(axis=axes) + 1e-5), rtol=1e-5, atol=0)
    assert_close(rm, 0.8 * rm0 + 0.2 * x64.mean(axis=axes), rtol=1e-6, atol=1e-6)
    assert_close(rv, 0.8 * rv0 + 0.2 * x64.var(axis=axes) * m / (m - 1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_eval_forward(backend, rng, shape):
    x, w, b = data(rng, shape)
    C = shape[1]
    rm = rng.standard_normal(C).astype(np.float32)
    rv = rng.uniform(0.5, 2, C).astype(np.float32)
    before = rm.copy(), rv.copy()
    y = backend.F.batch_norm(x, rm, rv, w, b, training=False)
    assert_close(y, ref.batch_norm(x, rm, rv, w, b), rtol=1e-5, atol=2e-5)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    assert_close(backend.F.batch_norm(x, rm, rv), ref.batch_norm(x, rm, rv), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward(backend, rng, shape):
    x, w, b = data(rng, shape)
    g = rng.standard_normal(shape).astype(np.float32)
    dx, dw, db = backend.F.batch_norm_backward(g, x, w, training=True)
    edx, edw, edb = ref.batch_norm_backward(g, x, w)
    assert_close(dx, edx, rtol=1e-4, atol=1e-4)
    assert_close(dw, edw, rtol=1e-4, atol=1e-4)
    assert_close(db, edb, rtol=1e-5, atol=1e-4)
    # statistics handed over from the forward give the same result
    _, mean, invstd = backend.F.batch_norm(x, None, None, w, b, training=True, return_stats=True)
    dx2, dw2, _ = backend.F.batch_norm_backward(g, x, w, save_mean=mean, save_invstd=invstd)
    assert_close(dx2, dx, rtol=1e-6, atol=1e-6)
    assert_close(dw2, dw, rtol=1e-6, atol=1e-6)
    rm = rng.standard_normal(shape[1]).astype(np.float32)
    rv = rng.uniform(0.5, 2, shape[1]).astype(np.float32)
    dx, dw, db = backend.F.batch_norm_backward(g, x, w, rm, rv, training=False)
    edx, edw, edb = ref.batch_norm_backward(g, x, w, rm, rv)
    assert_close(dx, edx, rtol=1e-5, atol=1e-5)
    assert_close(dw, edw, rtol=1e-4, atol=1e-4)
    assert_close(db, edb, rtol=1e-5, atol=1e-4)


def test_gradient_numeric(rng):
    x, w, b = data(rng, (3, 2, 2, 3), offset=0.0)
    g = rng.standard_normal(x.shape)
    dx, dw, db = F.batch_norm_backward(g, x, w)
    num = numeric_grad(lambda v: ref.batch_norm(v, weight=w, bias=b), x, g)
    assert_close(dx, num, rtol=1e-3, atol=1e-3)
    num_w = numeric_grad(lambda v: ref.batch_norm(x, weight=v, bias=b), w, g)
    assert_close(dw, num_w, rtol=1e-3, atol=1e-3)


def test_large_mean_is_stable(isa, rng):
    """Two-pass statistics: a mean far from zero does not wash out the variance."""
    x = (rng.standard_normal((16, 4, 8, 8)) + 1000).astype(np.float32)
    y = F.batch_norm(x, None, None, training=True)
    assert_close(y, ref.batch_norm(x), rtol=1e-3, atol=1e-3)


def test_torch_parity(isa, rng, torch):
    for shape in [(16, 6), (4, 6, 11), (4, 6, 9, 7)]:
        x, w, b = data(rng, shape)
        C = shape[1]
        rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
        tx = torch.from_numpy(x).requires_grad_()
        tw, tb = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
        trm, trv = torch.zeros(C), torch.ones(C)
        for _ in range(3):  # a few steps of running statistics
            y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1)
            ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=True, momentum=0.1)
        assert_close(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
        assert_close(rm, trm.numpy(), rtol=1e-6, atol=1e-6)
        assert_close(rv, trv.numpy(), rtol=1e-6, atol=1e-6)
        g = rng.standard_normal(shape).astype(np.float32)
        ty.backward(torch.from_numpy(g))
        dx, dw, db = F.batch_norm_backward(g, x, w)
        assert_close(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        assert_close(dw, tw.grad.numpy(), rtol=1e-4, atol=1e-4)
        assert_close(db, tb.grad.numpy(), rtol=1e-5, atol=1e-5)
        ye = F.batch_norm(x, rm, rv, w, b, training=False)
        assert_close(ye, torch.nn.functional.batch_norm(torch.from_numpy(x), trm, trv, tw, tb).detach().numpy(),
                     rtol=1e-5, atol=1e-5)


def test_bad_input():
    x = np.zeros((4, 3, 5), np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"weight: expected shape \(3,\).*\(4,\)"):
        F.batch_norm(x, rm, rv, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(np.zeros((1, 3), np.float32), None, None, training=True)
    with pytest.raises(ValueError, match="required"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        F.batch_norm(np.zeros(3, np.float32), rm, rv)
    with pytest.raises(TypeError, match="running_mean"):
        F.batch_norm(x, np.zeros(3), rv, training=True)
    with pytest.raises(ValueError, match="grad_out"):
        F.batch_norm_backward(np.zeros((4, 3, 4), np.float32), x)
    assert F.batch_norm(np.zeros((0, 3, 5), np.float32), rm, rv).shape == (0, 3, 5)


# ---- PyTorch's edge shapes: empty batches, an empty 1-D input, one channel ----

@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4), (2, 3, 0), (0, 2, 3, 3), (2, 0), (0,)])
@pytest.mark.parametrize("training", [True, False])
def test_empty_inputs_as_torch(backend, rng, shape, training, torch):
    C = shape[1] if len(shape) > 1 else 0
    rm = np.full(C, 0.5, np.float32)
    rv = np.full(C, 2.0, np.float32)
    w, b = (np.ones(C, np.float32), np.zeros(C, np.float32)) if C else (None, None)  # (torch: no (0,) weights)
    x = np.zeros(shape, np.float32)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    ty = torch.nn.functional.batch_norm(torch.from_numpy(x), trm, trv, None if w is None else torch.from_numpy(w),
                                        None if b is None else torch.from_numpy(b), training=training)
    y = backend.F.batch_norm(x, rm, rv, w, b, training=training)
    assert y.shape == tuple(ty.shape) == shape
    assert_close(rm, trm.numpy(), 0, 0)
    assert_close(rv, trv.numpy(), 0, 0)
    dx, dw, db = backend.F.batch_norm_backward(np.zeros(shape, np.float32), x, w, rm, rv, training=training)
    assert dx.shape == shape and dw.shape == db.shape == (C,) and not dw.any() and not db.any()


def test_edge_shape_samples_match_torch(rng, torch):
    """The shapes and arguments of PyTorch's own batch_norm samples: a single channel, negative
    momentum, a large eps, no weight or bias, no running statistics in training."""
    tf = torch.nn.functional
    cases = [((4, 4, 4), dict(training=True, momentum=0.5, eps=0.6)), ((3, 2, 4), dict(training=False, momentum=-1.2)),
             ((3, 1), dict(training=True, momentum=0.0)), ((3, 2, 3, 4), dict(training=True, momentum=-1.0, eps=0.5)),
             ((3, 2, 3, 4), dict(training=False, momentum=-1.0, eps=0.5)), ((2, 1), dict())]
    for shape, kw in cases:
        C = shape[1]
        x = rng.standard_normal(shape).astype(np.float32)
        rm, rv = rng.random(C).astype(np.float32), rng.random(C).astype(np.float32) + 0.1
        w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
        for ww, bb in ((w, b), (w, None), (None, b), (None, None)):
            trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
            ty = tf.batch_norm(torch.from_numpy(x), trm, trv, None if ww is None else torch.from_numpy(ww),
                               None if bb is None else torch.from_numpy(bb), **kw)
            m, v = rm.copy(), rv.copy()
            assert_close(F.batch_norm(x, m, v, ww, bb, **kw), ty.numpy(), 1e-5, 1e-5, f"{shape} {kw}")
            assert_close(m, trm.numpy(), 1e-6, 1e-6)
            assert_close(v, trv.numpy(), 1e-5, 1e-6)
    x = rng.standard_normal((1, 2, 3)).astype(np.float32)
    assert_close(F.batch_norm(x, None, None, training=True),
                 tf.batch_norm(torch.from_numpy(x), None, None, training=True).numpy(), 1e-5, 1e-6)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(np.zeros((1, 3), np.float32), None, None, training=True)
    with pytest.raises(ValueError, match=r"expected \(N, C\)"):
        F.batch_norm(np.zeros(3, np.float32), np.zeros(3, np.float32), np.ones(3, np.float32))


def test_empty_batch_module_counts_the_batch(torch):
    m, tm = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    y, ty = m(np.zeros((0, 3), np.float32)), tm(torch.zeros(0, 3))
    assert y.shape == tuple(ty.shape) == (0, 3)
    assert int(m.num_batches_tracked) == int(tm.num_batches_tracked) == 1
    assert_close(m.running_mean, tm.running_mean.numpy(), 0, 0)
    assert m.backward(np.zeros((0, 3), np.float32)).shape == (0, 3)
    assert m.weight.grad is not None and not m.weight.grad.any()


# ---- group norm and instance norm ----

GN_CASES = [((4, 6, 5), 3), ((2, 8, 4, 4), 2), ((3, 4, 7, 5), 4), ((2, 6, 1, 1), 3), ((5, 3), 1), ((1, 32, 9, 9), 8),
            ((2, 4, 130), 1), ((2, 16, 60, 60), 4)]


@pytest.mark.parametrize("shape,groups", GN_CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_oracle_and_backward(backend, rng, shape, groups, affine):
    x, w, b = data(rng, shape)
    w, b = (w, b) if affine else (None, None)
    y, mean, invstd = backend.F.group_norm(x, groups, w, b, 1e-5, return_stats=True)
    assert_close(y, ref.group_norm(x, groups, w, b), 2e-5, 2e-5)
    xg = x.astype(np.float64).reshape(shape[0] * groups, -1)
    assert_close(mean, xg.mean(1), 1e-6, 1e-6)
    assert_close(invstd, 1 / np.sqrt(xg.var(1) + 1e-5), 1e-5, 0)
    g = rng.standard_normal(shape).astype(np.float32)
    dx, dw, db = backend.F.group_norm_backward(g, x, groups, w, save_mean=mean, save_invstd=invstd)
    dx2, _, _ = backend.F.group_norm_backward(g, x, groups, w)  # the statistics recomputed
    assert_close(dx2, dx, 1e-5, 1e-6)
    if x.size <= 400:
        num = numeric_grad(lambda z: ref.group_norm(z, groups, w, b), x, g, eps=1e-4)
        assert_close(dx, num, 2e-3, 2e-4)
    xh = ref.group_norm(x, groups)
    axes = (0,) + tuple(range(2, x.ndim))
    assert_close(dw, (g * xh).sum(axis=axes), 1e-4, 1e-4)
    assert_close(db, g.astype(np.float64).sum(axis=axes), 1e-5, 1e-4)


@pytest.mark.parametrize("shape", [(3, 4, 9), (2, 5, 6, 7), (1, 3, 40, 40), (4, 2, 2)])
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm(backend, rng, shape, use_input_stats, torch):
    x, w, b = data(rng, shape)
    C = shape[1]
    rm, rv = rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    tx = torch.tensor(x, requires_grad=True)
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.instance_norm(tx, trm, trv, tw, tb, use_input_stats, 0.3, 1e-5)
    g = rng.standard_normal(shape).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    y, mean, invstd = backend.F.instance_norm(x, rm, rv, w, b, use_input_stats, 0.3, 1e-5, return_stats=True)
    assert_close(y, ty.detach().numpy(), 2e-5, 2e-5)
    if use_input_stats:
        assert_close(y, ref.group_norm(x, C, w, b), 2e-5, 2e-5)
    assert_close(rm, trm.numpy(), 1e-5, 1e-6)
    assert_close(rv, trv.numpy(), 1e-5, 1e-6)
    dx, dw, db = backend.F.instance_norm_backward(g, x, w, rm if not use_input_stats else None,
                                                  rv if not use_input_stats else None, use_input_stats,
                                                  save_mean=mean if use_input_stats else None,
                                                  save_invstd=invstd if use_input_stats else None)
    if not use_input_stats:  # the running statistics the forward used (torch's, before any update)
        dx, dw, db = backend.F.instance_norm_backward(g, x, w, trm.numpy(), trv.numpy(), False)
    assert_close(dx, tx.grad.numpy(), 1e-4, 1e-5)
    assert_close(dw, tw.grad.numpy(), 1e-4, 1e-4)
    assert_close(db, tb.grad.numpy(), 1e-5, 1e-4)


@pytest.mark.parametrize("make,tmake,shape", [
    (lambda: nn.GroupNorm(2, 6), lambda t: t.nn.GroupNorm(2, 6), (3, 6, 5, 4)),
    (lambda: nn.GroupNorm(3, 6, affine=False), lambda t: t.nn.GroupNorm(3, 6, affine=False), (2, 6, 7)),
    (lambda: nn.InstanceNorm2d(3), lambda t: t.nn.InstanceNorm2d(3), (2, 3, 5, 6)),
    (lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
     lambda t: t.nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 5, 6)),
    (lambda: nn.InstanceNorm2d(3, affine=True), lambda t: t.nn.InstanceNorm2d(3, affine=True), (3, 5, 6)),
    (lambda: nn.InstanceNorm1d(4, momentum=None, track_running_stats=True),
     lambda t: t.nn.InstanceNorm1d(4, momentum=None, track_running_stats=True), (2, 4, 9)),
], ids=["group", "group_noaffine", "instance", "instance_tracked", "instance_unbatched", "instance1d"])
def test_norm_modules_as_torch(make, tmake, shape, rng, torch):
    m, tm = make(), tmake(torch)
    assert sorted(m.state_dict()) == sorted(tm.state_dict())
    for step in range(2):
        x = rng.standard_normal(shape).astype(np.float32) * 2 + 1
        g = rng.standard_normal(shape).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        ty = tm(tx)
        ty.backward(torch.from_numpy(g))
        assert_close(m(x), ty.detach().numpy(), 2e-5, 2e-5, f"step {step}")
        assert_close(m.backward(g), tx.grad.numpy(), 1e-4, 1e-5)
        for (k, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
            assert_close(p.grad, tp.grad.numpy(), 1e-4, 1e-4, k)
        for k, v in tm.state_dict().items():
            assert_close(m.state_dict()[k], v.numpy(), 1e-5, 1e-6, k)
    m.eval(), tm.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    assert_close(m(x), tm(torch.from_numpy(x)).detach().numpy(), 2e-5, 2e-5, "eval")


def test_group_and_instance_norm_bad_input():
    x = np.zeros((2, 6, 4), np.float32)
    with pytest.raises(ValueError, match="num_groups: expected a positive divisor of the channel count 6"):
        F.group_norm(x, 4)
    with pytest.raises(TypeError, match="num_groups"):
        F.group_norm(x, 2.0)
    with pytest.raises(ValueError, match=r"weight: expected shape \(6,\)"):
        F.group_norm(x, 2, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"expected \(N, C, \*\)"):
        F.group_norm(np.zeros(6, np.float32), 2)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm: expected an input \(N, 6, \*\)"):
        nn.GroupNorm(2, 6)(np.zeros((2, 4, 3), np.float32))
    assert F.group_norm(np.zeros((0, 6, 4), np.float32), 3).shape == (0, 6, 4)
    dx, dw, db = F.group_norm_backward(np.zeros((0, 6, 4), np.float32), np.zeros((0, 6, 4), np.float32), 3)
    assert dx.shape == (0, 6, 4) and dw.shape == (6,) and not dw.any()
