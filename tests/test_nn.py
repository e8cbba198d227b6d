"""fastlayers.nn and its kernels: losses (cross-entropy, NLL, MSE, BCE-with-logits), dropout,
Linear, Maxout, activation modules, containers, state_dict and save/load.

Float64 oracles in reference.py; every loss / dropout kernel on every ISA level; gradient
checks by central differences; PyTorch parity; bad-input cases."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
import fastlayers.functional as F
from fastlayers import nn

import reference as ref
from helpers import assert_close, numeric_grad

# ---------------------------------------------------------------- cross-entropy kernels

CE_SHAPES = [(1, 1), (7, 3), (5, 10), (33, 17), (4, 97), (3, 129), (2, 1000), (3000, 33)]  # last: threaded


@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_matches_oracle(backend, rng, shape, smoothing):
    n, c = shape
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    t = rng.integers(0, c, n)
    if n > 2:
        t[1] = -100
    rows, grad = ref.cross_entropy_rows(x, t, label_smoothing=smoothing)
    count = int((t != -100).sum())
    assert_close(backend.F.cross_entropy(x, t, reduction="none", label_smoothing=smoothing), rows, 2e-6, 2e-6)
    assert_close(backend.F.cross_entropy(x, t, reduction="sum", label_smoothing=smoothing), rows.sum(), 2e-6, 1e-5)
    assert_close(backend.F.cross_entropy(x, t, label_smoothing=smoothing), rows.sum() / count, 2e-6, 1e-6)
    assert_close(backend.F.cross_entropy_backward(1.0, x, t, label_smoothing=smoothing), grad / count, 1e-5, 1e-7)
    assert_close(backend.F.cross_entropy_backward(2.0, x, t, reduction="sum", label_smoothing=smoothing), 2 * grad,
                 1e-5, 1e-6)
    g = rng.standard_normal(n).astype(np.float32)
    assert_close(backend.F.cross_entropy_backward(g, x, t, reduction="none", label_smoothing=smoothing),
                 grad * g[:, None], 1e-5, 1e-6)


def test_cross_entropy_extreme_logits(backend):
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], np.float32)
    t = np.array([1, 2])
    rows = backend.F.cross_entropy(x, t, reduction="none")
    assert_close(rows, [1000.0, np.log(3)], 1e-6, 1e-5)
    assert np.isfinite(backend.F.cross_entropy_backward(1.0, x, t)).all()
    x[0, 2] = np.nan
    rows = backend.F.cross_entropy(x, t, reduction="none")
    assert np.isnan(rows[0]) and np.isfinite(rows[1])
    # a -inf logit (a masked class) leaves the loss finite without smoothing, as in PyTorch
    x = np.array([[0.0, -np.inf, 1.0]], np.float32)
    assert_close(backend.F.cross_entropy(x, np.array([0])), np.log(1 + np.e), 1e-6)
    assert backend.F.cross_entropy(x, np.array([0]), label_smoothing=0.1) == np.inf


def test_cross_entropy_ignore_all_and_single_row():
    x = np.zeros((3, 4), np.float32)
    assert np.isnan(F.cross_entropy(x, np.full(3, -100)))
    assert F.cross_entropy(x, np.full(3, -100), reduction="sum") == 0.0
    assert_close(F.cross_entropy(np.array([0.0, 0.0], np.float32), 1), np.log(2), 1e-6)
    assert F.cross_entropy_backward(1.0, np.array([0.0, 0.0]), 1).shape == (2,)


def test_cross_entropy_torch_parity(torch, rng):
    x = rng.standard_normal((16, 7)).astype(np.float32)
    t = rng.integers(0, 7, 16)
    t[3] = 5
    for kw in [dict(), dict(ignore_index=5), dict(label_smoothing=0.2), dict(reduction="sum"),
               dict(ignore_index=5, label_smoothing=0.3)]:
        tx = torch.tensor(x, requires_grad=True)
        tl = torch.nn.functional.cross_entropy(tx, torch.tensor(t), **kw)
        tl.backward()
        crit = nn.CrossEntropyLoss(**kw)
        assert_close(crit(x, t), tl.item(), 1e-6, 1e-6, str(kw))
        assert_close(crit.backward(), tx.grad.numpy(), 1e-5, 1e-7, str(kw))


def test_cross_entropy_bad_input():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"class index 3 at position 2 is out of range \[0, 3\)"):
        F.cross_entropy(x, np.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="out of range"):
        nn.CrossEntropyLoss()(x, np.array([0, -1, 0, 0]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(x, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(4,\)"):
        F.cross_entropy(x, np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.zeros(4, np.int64), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.zeros(4, np.int64), label_smoothing=1.5)
    with pytest.raises(TypeError):
        F.cross_entropy(x.astype(np.complex64), np.zeros(4, np.int64))
    with pytest.raises(RuntimeError, match="call forward"):
        nn.CrossEntropyLoss().backward()


def test_cross_entropy_gradient_check(rng):
    x = rng.standard_normal((3, 4))
    t = np.array([0, 3, 1])
    num = numeric_grad(lambda z: np.array(F.cross_entropy(z, t, label_smoothing=0.1)), x, np.array(1.0))
    assert_close(F.cross_entropy_backward(1.0, x, t, label_smoothing=0.1), num, 2e-2, 2e-4)


# ---------------------------------------------------------------- nll, mse, bce


def test_nll_loss_on_every_backend(backend, rng):
    lp = F.log_softmax(rng.standard_normal((6, 5)).astype(np.float32))
    t = np.array([0, 4, 2, -100, 1, 1])
    keep = t != -100
    want = -lp[np.arange(6), np.where(keep, t, 0)] * keep
    assert_close(backend.F.nll_loss(lp, t, reduction="none"), want, 1e-6, 0)
    assert_close(backend.F.nll_loss(lp, t), want.sum() / keep.sum(), 1e-6, 0)
    g = np.zeros((6, 5), np.float32)
    g[np.arange(6)[keep], t[keep]] = -1.0 / keep.sum()
    assert_close(backend.F.nll_loss_backward(1.0, lp, t), g, 1e-6, 0)
    with pytest.raises(ValueError, match="out of range"):
        backend.F.nll_loss(lp, np.array([0, 5, 0, 0, 0, 0]))


def test_nll_loss(torch, rng):
    lp = F.log_softmax(rng.standard_normal((6, 5)).astype(np.float32))
    t = np.array([0, 4, 2, -100, 1, 1])
    tx = torch.tensor(lp, requires_grad=True)
    tl = torch.nn.functional.nll_loss(tx, torch.tensor(t))
    tl.backward()
    crit = nn.NLLLoss()
    assert_close(crit(lp, t), tl.item(), 1e-6)
    assert_close(crit.backward(), tx.grad.numpy(), 1e-6)
    with pytest.raises(ValueError, match="out of range"):
        F.nll_loss(lp, np.array([0, 5, 0, 0, 0, 0]))


@pytest.mark.parametrize("n", [1, 7, 100, 40000])
def test_point_losses_match_oracle(backend, rng, n):
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    y = rng.random(n).astype(np.float32)
    for fwd, bwd, oracle, deriv in [
        (backend.F.mse_loss, backend.F.mse_loss_backward, ref.mse, lambda: 2 * (x.astype(np.float64) - y)),
        (backend.F.binary_cross_entropy_with_logits, backend.F.binary_cross_entropy_with_logits_backward, ref.bce_with_logits,
         lambda: ref.sigmoid(x) - y)]:
        want = oracle(x, y)
        assert_close(fwd(x, y, reduction="none"), want, 1e-5, 1e-6)
        assert_close(fwd(x, y, reduction="sum"), want.sum(), 1e-5, 1e-5)
        assert_close(fwd(x, y), want.mean(), 1e-5, 1e-6)
        assert_close(bwd(1.0, x, y), deriv() / n, 1e-5, 1e-8)
        g = rng.standard_normal(n).astype(np.float32)
        assert_close(bwd(g, x, y, "none"), deriv() * g, 1e-5, 1e-6)


def test_point_losses_torch_parity(torch, rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = rng.random((4, 5)).astype(np.float32)
    for ours, theirs in [(nn.MSELoss(), torch.nn.MSELoss()), (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()),
                         (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"))]:
        tx = torch.tensor(x, requires_grad=True)
        tl = theirs(tx, torch.tensor(y))
        tl.backward()
        assert_close(ours(x, y), tl.item(), 1e-6, 1e-6)
        assert_close(ours.backward(), tx.grad.numpy(), 1e-6, 1e-7)


def test_point_loss_bad_shape():
    with pytest.raises(ValueError, match="shape of input"):
        F.mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="grad_out"):
        F.mse_loss_backward(np.ones(3), np.zeros(2), np.zeros(2), "none")


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000, 100003])
def test_dropout_mask_matches_oracle(backend, n):
    x = np.arange(1, n + 1, dtype=np.float32)
    for seed, p in [(0, 0.5), (12345678901234, 0.1), (2**64 - 1, 0.9)]:
        keep = ref.dropout_keep(seed, n, p)
        y = backend.F.dropout(x, p, seed=seed)
        assert_close(y, np.where(keep, x / (1 - p), 0.0), 1e-6, 0)
        dx = backend.F.dropout_backward(np.ones(n, np.float32), p, seed)
        assert np.array_equal(dx != 0, keep)


def test_dropout_statistics_and_threads():
    x = np.ones(1 << 18, np.float32)
    before = fastlayers.get_num_threads()
    try:
        fastlayers.set_num_threads(1)
        y1 = F.dropout(x, 0.3, seed=7)
        fastlayers.set_num_threads(2)
        y2 = F.dropout(x, 0.3, seed=7)
    finally:
        fastlayers.set_num_threads(before)
    assert np.array_equal(y1, y2)
    assert abs((y1 == 0).mean() - 0.3) < 0.005
    assert not np.array_equal(y1, F.dropout(x, 0.3, seed=8))
    assert_close(y1.mean(), 1.0, 0.01)


def test_dropout_edges():
    x = np.ones((3, 4), np.float32)
    assert np.array_equal(F.dropout(x, 0.0, seed=1), x)
    assert np.array_equal(F.dropout(x, 1.0, seed=1), np.zeros_like(x))
    assert np.array_equal(F.dropout(x, 0.5, training=False), x)
    with pytest.raises(ValueError, match="probability"):
        F.dropout(x, 1.5)
    with pytest.raises(TypeError, match="seed"):
        F.dropout(x, 0.5, seed=1.5)


def test_dropout_module_reuses_mask():
    fastlayers.manual_seed(3)
    d = nn.Dropout(0.4)
    x = np.arange(1, 201, dtype=np.float32)
    y = d(x)
    dx = d.backward(np.ones_like(x))
    assert np.array_equal(y == 0, dx == 0)
    assert_close(dx[y != 0], np.full(int((y != 0).sum()), 1 / 0.6), 1e-6)
    assert not np.array_equal(d(x) == 0, y == 0)  # a fresh mask per forward
    d.eval()
    assert np.array_equal(d(x), x)
    with pytest.raises(RuntimeError, match="training mode"):
        d.backward(np.ones_like(x))


# ---------------------------------------------------------------- modules: gradient checks


def _check_module_grads(m, x, rtol=2e-2, atol=2e-3, seed=0):
    """backward's dx and every param.grad against central differences of sum(m(x) * dy)."""
    r = np.random.default_rng(seed)
    m.train()
    m.zero_grad()
    y = m(x.astype(np.float32))
    dy = r.standard_normal(y.shape)
    dx = m.backward(dy.astype(np.float32))
    grads = {k: p.grad.copy() for k, p in m.named_parameters()}

    def run(z):
        return m(z.astype(np.float32)).astype(np.float64)
    assert_close(dx, numeric_grad(run, x, dy), rtol, atol, "dx")
    for k, p in m.named_parameters():
        def run_p(w, p=p):
            old = p.data.copy()
            p.data[...] = w
            try:
                return m(x.astype(np.float32)).astype(np.float64)
            finally:
                p.data[...] = old
        assert_close(grads[k], numeric_grad(run_p, p.data, dy), rtol, atol, k)


@pytest.mark.parametrize("make", [
    lambda: nn.Linear(5, 3), lambda: nn.Linear(4, 2, bias=False), lambda: nn.Maxout(4, 3, pieces=3),
    nn.Sigmoid, nn.Tanh, nn.ReLU, lambda: nn.LeakyReLU(0.2), nn.ELU, nn.GELU, lambda: nn.GELU("tanh"), nn.SiLU,
    nn.Softmax, nn.LogSoftmax, nn.Identity, nn.Flatten,
    lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2)),
    lambda: nn.Sequential(nn.Linear(4, 5), nn.LeakyReLU(0.1), nn.Linear(5, 5), nn.Sigmoid(), nn.Linear(5, 2)),
], ids=["linear", "linear_nobias", "maxout", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "gelu_tanh",
        "silu", "softmax", "log_softmax", "identity", "flatten", "seq_tanh_relu", "seq_leaky_sigmoid"])
def test_module_gradients(make):
    fastlayers.manual_seed(0)
    m = make()
    shape = (3, 2, 2) if isinstance(m, nn.Flatten) else (3, 5) if isinstance(m, nn.Linear) and m.in_features == 5 \
        else (3, 4)
    x = np.random.default_rng(1).standard_normal(shape) * 1.5
    x[np.abs(x) < 0.05] = 0.3  # keep kinks of relu-like functions away from the finite differences
    _check_module_grads(m, x)


def test_dropout_gradient_check():
    fastlayers.manual_seed(0)
    d = nn.Dropout(0.5)
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    y = d(x)
    dy = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    seed = d._seed
    num = numeric_grad(lambda z: F.dropout(z, 0.5, seed=seed).astype(np.float64), x, dy)
    assert_close(d.backward(dy), num, 1e-3, 1e-3)


def test_gradients_accumulate_and_zero_grad():
    fastlayers.manual_seed(1)
    lin = nn.Linear(3, 2)
    x = np.ones((4, 3), np.float32)
    lin(x)
    lin.backward(np.ones((4, 2), np.float32))
    g1 = lin.weight.grad.copy()
    lin(x)
    lin.backward(np.ones((4, 2), np.float32))
    assert_close(lin.weight.grad, 2 * g1, 0, 0)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_linear_accumulates_into_existing_gradients(rng):
    """With gradients kept (zero_grad(set_to_none=False), or several backward passes), Linear adds
    into .grad in place; a gradient it cannot write into (float64, read-only) is replaced by a sum."""
    lin = nn.Linear(5, 4)
    x = rng.integers(-2, 3, (6, 5)).astype(np.float32)
    g = rng.integers(-2, 3, (6, 4)).astype(np.float32)
    lin(x)
    lin.backward(g)
    gw, gb = lin.weight.grad, lin.bias.grad
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is gw and not gw.any()
    for k in (1, 2, 3):
        lin(x)
        lin.backward(g)
        assert lin.weight.grad is gw and lin.bias.grad is gb
        np.testing.assert_array_equal(gw, k * (g.T @ x))
        np.testing.assert_array_equal(gb, k * g.sum(axis=0))
    lin.weight.grad = np.zeros((4, 5))  # float64: not written into
    lin(x)
    lin.backward(g)
    np.testing.assert_array_equal(lin.weight.grad, g.T @ x)


def test_activation_modules_torch_parity(torch, rng):
    x = rng.standard_normal((5, 6)).astype(np.float32)
    dy = rng.standard_normal((5, 6)).astype(np.float32)
    pairs = [(nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()), (nn.ReLU(), torch.nn.ReLU()),
             (nn.LeakyReLU(), torch.nn.LeakyReLU()), (nn.ELU(0.7), torch.nn.ELU(0.7)), (nn.GELU(), torch.nn.GELU()),
             (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)), (nn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0))]
    for ours, theirs in pairs:
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        ty.backward(torch.tensor(dy))
        assert_close(ours(x), ty.detach().numpy(), 1e-5, 1e-6, repr(ours))
        assert_close(ours.backward(dy), tx.grad.numpy(), 1e-5, 1e-6, repr(ours))


# ---------------------------------------------------------------- module behaviour


def test_linear_init_as_pytorch():
    fastlayers.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    for p in (lin.weight.data, lin.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.95 * bound
    assert abs(lin.weight.data.std() - bound / np.sqrt(3)) < 0.01 * bound
    fastlayers.manual_seed(0)
    assert np.array_equal(nn.Linear(400, 300).weight.data, lin.weight.data)


def test_eval_caches_nothing():
    fastlayers.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    m(np.ones((2, 3), np.float32))
    assert m[0]._x is not None
    m.eval()
    assert m[0]._x is None and m[1]._s is None
    m(np.ones((2, 3), np.float32))
    assert m[0]._x is None and m[1]._s is None and m[2]._x is None
    with pytest.raises(RuntimeError, match="training mode"):
        m.backward(np.ones((2, 2), np.float32))
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())


def test_wrong_feature_count():
    with pytest.raises(ValueError, match=r"in_features=3.*got \(2, 4\)"):
        nn.Linear(3, 2)(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="in_features=6"):
        nn.Maxout(6, 2)(np.ones((2, 5), np.float32))


def test_repr_and_parameters():
    m = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2))
    r = repr(m)
    assert "(0): Linear(in_features=2, out_features=8, bias=True)" in r and "(2): Dropout(p=0.1)" in r
    assert [k for k, _ in m.named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert m.num_parameters() == 2 * 8 + 8 + 8 * 2 + 2
    assert len(list(m.parameters())) == 4 and len(m) == 4


def test_to_device():
    m = nn.Linear(2, 2)
    assert m.to("cpu") is m
    if not fastlayers.cuda.is_available():  # the device round trip: tests/test_modules_device.py
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            m.to("cuda")
    with pytest.raises(ValueError, match="device"):
        m.to("tpu")


# ---------------------------------------------------------------- state_dict and save/load


def test_state_dict_round_trip_and_torch_load(torch):
    fastlayers.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert_close(m(x), tm(torch.tensor(x)).detach().numpy(), 1e-6, 1e-6)
    sd = m.state_dict()
    sd["0.weight"][...] = 0  # a copy: the model is unchanged
    assert not np.all(m[0].weight.data == 0)
    w = m[0].weight.data
    m2 = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    m2.load_state_dict(m.state_dict())
    assert_close(m2(x), m(x), 0, 0)
    m.load_state_dict(tm.state_dict())  # tensors work too, copied in place
    assert m[0].weight.data is w


def test_state_dict_bad_keys(torch):
    m = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    sd = m.state_dict()
    missing = {k: v for k, v in sd.items() if k != "2.bias"}
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "2.bias"\.'):
        m.load_state_dict(missing)
    r = m.load_state_dict(missing, strict=False)
    assert r == (["2.bias"], []) and r.missing_keys == ["2.bias"] and r.unexpected_keys == []
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "9.weight"\.') as e:
        m.load_state_dict({**sd, "9.weight": np.zeros(2)})
    assert "Missing" not in str(e.value)
    both = {**missing, "9.weight": np.zeros(2)}
    with pytest.raises(RuntimeError, match=r'(?s)Missing key.*"2.bias".*Unexpected key.*"9.weight"'):
        m.load_state_dict(both)
    r = m.load_state_dict(both, strict=False)
    assert r.missing_keys == ["2.bias"] and r.unexpected_keys == ["9.weight"]
    with pytest.raises(ValueError, match=r"0.weight has shape \(3, 5\), the model expects \(5, 3\)"):
        m.load_state_dict({**sd, "0.weight": np.zeros((3, 5))})
    # the same answers as PyTorch's, field by field
    tm = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    tr = tm.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in both.items()}, strict=False)
    assert (tr.missing_keys, tr.unexpected_keys) == (r.missing_keys, r.unexpected_keys)


def test_save_load_round_trip(tmp_path):
    fastlayers.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    fastlayers.save(m, tmp_path / "m.npz")
    sd = fastlayers.load(tmp_path / "m.npz")
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for k, v in m.state_dict().items():
        assert np.array_equal(sd[k], v) and sd[k].dtype == np.float32
    obj = {"a": [1, 2.5, None, "s", (True, np.arange(3))], 7: {"x": np.ones((2, 2))}}
    fastlayers.save(obj, tmp_path / "o")
    back = fastlayers.load(tmp_path / "o.npz")
    assert back["a"][:4] == [1, 2.5, None, "s"] and back["a"][4][0] is True
    assert np.array_equal(back["a"][4][1], np.arange(3)) and np.array_equal(back[7]["x"], np.ones((2, 2)))


def test_load_foreign_and_truncated(tmp_path):
    np.savez(tmp_path / "foreign.npz", w=np.ones(3))
    with pytest.raises(ValueError, match="not a fastlayers file"):
        fastlayers.load(tmp_path / "foreign.npz")
    np.save(tmp_path / "plain.npy", np.ones(3))
    with pytest.raises(ValueError, match="not a fastlayers file"):
        fastlayers.load(tmp_path / "plain.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a fastlayers file|corrupt"):
        fastlayers.load(tmp_path / "text.npz")
    fastlayers.save({"w": np.ones(1000)}, tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        fastlayers.load(tmp_path / "cut.npz")
    with pytest.raises(FileNotFoundError):
        fastlayers.load(tmp_path / "missing.npz")
    with pytest.raises(TypeError, match="cannot store"):
        fastlayers.save({"f": object()}, tmp_path / "bad.npz")


@pytest.mark.parametrize("first", ["linear", "maxout", "relu_then_linear"])
def test_backward_without_input_grad(rng, first):
    fastlayers.manual_seed(0)
    head = {"linear": [nn.Linear(6, 5)], "maxout": [nn.Maxout(6, 5, pieces=2)],
            "relu_then_linear": [nn.ReLU(), nn.Linear(6, 5)]}[first]
    m = nn.Sequential(*head, nn.Tanh(), nn.Linear(5, 3))
    x = rng.standard_normal((4, 6)).astype(np.float32)
    dy = rng.standard_normal((4, 3)).astype(np.float32)
    m(x)
    dx = m.backward(dy)
    full = {k: p.grad.copy() for k, p in m.named_parameters()}
    m.zero_grad()
    m(x)
    assert m.backward(dy, need_input_grad=False) is None
    assert dx.shape == x.shape
    for k, p in m.named_parameters():
        assert_close(p.grad, full[k], 1e-6, 1e-7, k)


@pytest.mark.parametrize("kind", ["ce", "ce_smooth_ignore", "nll", "mse", "bce", "ce_none"])
def test_loss_gradient_checks(rng, kind):
    x = rng.standard_normal((4, 5))
    t = np.array([1, 0, 4, 2])
    crit = {"ce": nn.CrossEntropyLoss(), "ce_none": nn.CrossEntropyLoss(reduction="none"),
            "ce_smooth_ignore": nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.2),
            "nll": nn.NLLLoss(reduction="sum"), "mse": nn.MSELoss(), "bce": nn.BCEWithLogitsLoss()}[kind]
    target = rng.random((4, 5)).astype(np.float32) if kind in ("mse", "bce") else t
    g = rng.standard_normal(4).astype(np.float32) if kind == "ce_none" else 1.0
    crit(x.astype(np.float32), target)
    analytic = crit.backward(g)

    def f(z):
        return np.asarray(crit(z.astype(np.float32), target), np.float64)
    num = numeric_grad(f, x, np.asarray(g, np.float64))
    assert_close(analytic, num, 2e-2, 3e-4, kind)


def test_manual_seed_makes_training_repeatable(rng):
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = rng.integers(0, 2, 16)

    def run():
        fastlayers.manual_seed(42)
        m = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 2))
        opt = fastlayers.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        crit = nn.CrossEntropyLoss()
        for _ in range(5):
            opt.zero_grad()
            crit(m(x), y)
            m.backward(crit.backward())
            opt.step()
        return m.state_dict()

    a, b = run(), run()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    fastlayers.manual_seed(42)
    w42 = nn.Linear(3, 8).weight.data
    fastlayers.manual_seed(43)
    assert not np.array_equal(nn.Linear(3, 8).weight.data, w42)


def test_buffers_in_state_dict():
    m = nn.Linear(2, 2)
    m.register_buffer("running_mean", np.zeros(2, np.float32))
    m.running_mean[...] = 1.0  # in place
    assert np.array_equal(m.state_dict()["running_mean"], [1, 1])
    m.running_mean = np.full(2, 3.0, np.float32)  # reassignment updates the buffer
    sd = m.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean"] and np.array_equal(sd["running_mean"], [3, 3])
    m.load_state_dict({**sd, "running_mean": np.full(2, 5.0)})
    assert np.array_equal(m.running_mean, [5, 5])
    m.bias = None
    assert [k for k, _ in m.named_parameters()] == ["weight"]


def test_dropout_propagates_nan(backend):
    x = np.full(64, np.nan, np.float32)
    assert np.isnan(backend.F.dropout(x, 0.5, seed=1)).all() and np.isnan(backend.F.dropout(x, 1.0)).all()
