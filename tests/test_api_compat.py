"""A PyTorch user's calls, unchanged: defaults (leaky_relu's slope), keywords (dim= / axis=,
dtype=, inplace=, device= / dtype= of module constructors), edge shapes (0-d inputs),
load_state_dict's answers, a backward without its forward, and parameters that must be a
ValueError (huge or non-finite pool windows) or a TypeError (a fractional thread count)."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import functional as F
from fastlayers import nn

import reference as R
from helpers import assert_close

ACTS = ["relu", "sigmoid", "tanh", "elu", "leaky_relu", "gelu", "silu"]


def test_leaky_relu_default_is_torchs(torch, rng):
    x = rng.standard_normal((3, 50)).astype(np.float32)
    tf = torch.nn.functional
    assert_close(F.leaky_relu(x), tf.leaky_relu(torch.from_numpy(x)).numpy(), 0, 0)
    assert_close(nn.LeakyReLU()(x), F.leaky_relu(x), 0, 0)
    g = rng.standard_normal(x.shape).astype(np.float32)
    assert_close(F.leaky_relu_backward(g, x), np.where(x > 0, g, 0.01 * g), 1e-7, 0)
    # the fused linear takes the same default, and the course's 0.1 stays one argument away
    w = rng.standard_normal((4, 50)).astype(np.float32)
    assert_close(F.linear(x, w, None, "leaky_relu"), F.leaky_relu(x @ w.T), 1e-5, 1e-5)
    assert_close(F.leaky_relu(x, 0.1), R.leaky_relu(x, 0.1), 1e-7, 0)


@pytest.mark.parametrize("name", ACTS + ["softmax", "log_softmax"])
def test_0d_inputs_keep_their_shape(backend, name):
    fn = getattr(backend.F, name)
    for x in (np.array(0.5, np.float32), np.array(-1.5), np.float64(2.0)):
        y = fn(np.asarray(x)) if backend.device else fn(x)
        assert np.shape(y) == (), (name, type(x))
    if name in ("softmax", "log_softmax"):
        for d in (0, -1):
            assert float(backend.F.softmax(np.array(3.0, np.float32), d)) == 1.0
            assert float(backend.F.log_softmax(np.array(3.0, np.float32), dim=d)) == 0.0
        with pytest.raises(ValueError, match="dim"):
            backend.F.softmax(np.array(3.0, np.float32), dim=1)


def test_0d_activations_match_torch(torch):
    tf = torch.nn.functional
    for name in ACTS:
        t = torch.tensor(-0.7)
        assert_close(getattr(F, name)(np.float32(-0.7)), getattr(tf, name)(t).numpy(), 1e-6, 1e-7, what=name)
    for d in (0, -1):
        assert_close(F.softmax(np.array(0.3), d), tf.softmax(torch.tensor(0.3), d).numpy(), 0, 0)
        assert_close(F.log_softmax(np.array(0.3), d), tf.log_softmax(torch.tensor(0.3), d).numpy(), 0, 0)


def test_softmax_dim_axis_and_dtype(backend, rng, torch):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    want = R.softmax(x, 1)
    for call in (lambda: backend.F.softmax(x, 1), lambda: backend.F.softmax(x, dim=1),
                 lambda: backend.F.softmax(x, axis=1), lambda: backend.F.softmax(x, dim=1, axis=1)):
        assert_close(call(), want, 1e-6, 1e-7)
    with pytest.raises(TypeError, match="dim, axis"):
        backend.F.softmax(x, dim=1, axis=2)
    with pytest.raises(ValueError, match="dim: 3 is out of range"):
        backend.F.softmax(x, dim=3)
    g = rng.standard_normal(x.shape).astype(np.float32)
    y = backend.F.log_softmax(x, dim=0)
    assert_close(backend.F.log_softmax_backward(g, y, dim=0), backend.F.log_softmax_backward(g, y, axis=0), 0, 0)
    assert_close(backend.F.maxout(x, 2, dim=1), R.maxout(x, 2, 1), 0, 0)
    assert_close(backend.F.maxout(x, 5, axis=-1), R.maxout(x, 5, 2), 0, 0)
    if backend.device:
        with pytest.raises(TypeError, match="dtype"):
            backend.F.softmax(x, 1, dtype=np.float64)
        return
    tf = torch.nn.functional
    for dt, tdt in ((np.float64, torch.float64), ("float32", torch.float32), (torch.float64, torch.float64)):
        y = F.softmax(x.astype(np.float16), 1, dtype=dt)
        ty = tf.softmax(torch.from_numpy(x.astype(np.float16)), 1, dtype=tdt)
        assert y.dtype == np.dtype(str(ty.dtype)[6:])
        assert_close(y, ty.numpy(), 1e-6, 1e-7)
    assert F.log_softmax(x, -1, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="dtype"):
        F.softmax(x, 1, dtype=np.int32)
    with pytest.raises(TypeError, match="dtype"):
        F.softmax(x, 1, dtype=np.float64, out=np.empty_like(x))


@pytest.mark.parametrize("name,args", [("relu", ()), ("leaky_relu", (0.2,)), ("elu", (0.5,)), ("silu", ())])
def test_functional_inplace(backend, rng, name, args):
    x = rng.standard_normal((4, 37)).astype(np.float32)
    want = getattr(F, name)(x, *args)
    fn = getattr(F, name)
    if backend.device:
        xd = backend.put(x)
        assert fn(xd, *args, inplace=True) is xd
        assert_close(xd.numpy(), want, 0, 0)
        return
    y = x.copy()
    assert fn(y, *args, inplace=True) is y
    assert_close(y, want, 0, 0)
    y64 = x.astype(np.float64)  # another dtype: the float32 result is written back into it
    assert fn(y64, *args, inplace=True) is y64 and y64.dtype == np.float64
    assert_close(y64, want, 0, 0)
    big = np.zeros((4, 74), np.float32)
    view = big[:, ::2]  # a strided view: written through
    view[...] = x
    fn(view, *args, inplace=True)
    assert_close(big[:, ::2], want, 0, 0)
    assert np.all(big[:, 1::2] == 0)
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fn(ro, *args, inplace=True)
    with pytest.raises(TypeError, match="inplace"):
        fn([1.0, -1.0], *args, inplace=True)
    with pytest.raises(ValueError, match="out"):
        fn(x.copy(), *args, inplace=True, out=np.empty_like(x))


def test_dropout_inplace(rng):
    x = rng.standard_normal(1000).astype(np.float32)
    want = F.dropout(x, 0.3, seed=7)
    y = x.copy()
    assert F.dropout(y, 0.3, True, True, seed=7) is y
    assert_close(y, want, 0, 0)
    assert F.dropout(y, 0.3, False, True) is y
    m = nn.Dropout(0.3, inplace=True)
    y = x.copy()
    out = m(y)
    assert out is y and "inplace=True" in repr(m)
    assert_close(m.backward(np.ones_like(x)), (y != 0) / 0.7, 1e-6, 0)


@pytest.mark.parametrize("make,torch_make", [
    (lambda: nn.ReLU(inplace=True), lambda t: t.nn.ReLU(inplace=True)),
    (lambda: nn.LeakyReLU(0.2, inplace=True), lambda t: t.nn.LeakyReLU(0.2, inplace=True)),
    (lambda: nn.LeakyReLU(-0.5, True), lambda t: t.nn.LeakyReLU(-0.5)),
    (lambda: nn.ELU(0.7, inplace=True), lambda t: t.nn.ELU(0.7)),
    (lambda: nn.SiLU(inplace=True), lambda t: t.nn.SiLU()),
], ids=["relu", "leaky", "leaky_negative_slope", "elu", "silu"])
def test_inplace_modules_train_like_torch(torch, rng, make, torch_make):
    x = rng.standard_normal((5, 9)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    m = make()
    y = x.copy()
    out = m(y)
    assert out is y and "inplace=True" in repr(m)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    ty = torch_make(torch)(tx * 1.0)
    ty.backward(torch.from_numpy(g))
    assert_close(out, ty.detach().numpy(), 1e-6, 1e-7)
    assert_close(m.backward(g), tx.grad.numpy(), 1e-6, 1e-7)


def test_inplace_module_on_the_device(device_backend, rng):
    x = rng.standard_normal((5, 9)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    m = nn.ELU(0.5, inplace=True)
    xd = device_backend.put(x)
    assert m(xd) is xd
    assert_close(xd.numpy(), F.elu(x, 0.5), 0, 0)
    assert_close(m.backward(device_backend.put(g)).numpy(), F.elu_backward(g, x, 0.5), 0, 0)


FACTORIES = {
    "Linear": lambda **kw: nn.Linear(3, 4, **kw),
    "Maxout": lambda **kw: nn.Maxout(3, 4, 2, **kw),
    "Conv1d": lambda **kw: nn.Conv1d(2, 3, 3, **kw),
    "Conv2d": lambda **kw: nn.Conv2d(2, 3, 3, **kw),
    "ConvTranspose2d": lambda **kw: nn.ConvTranspose2d(2, 3, 3, **kw),
    "BatchNorm1d": lambda **kw: nn.BatchNorm1d(3, **kw),
    "BatchNorm2d": lambda **kw: nn.BatchNorm2d(3, **kw),
    "GroupNorm": lambda **kw: nn.GroupNorm(1, 3, **kw),
    "InstanceNorm2d": lambda **kw: nn.InstanceNorm2d(3, affine=True, **kw),
    "Embedding": lambda **kw: nn.Embedding(5, 3, **kw),
    "RNN": lambda **kw: nn.RNN(3, 4, **kw),
    "LSTM": lambda **kw: nn.LSTM(3, 4, 2, **kw),
    "GRU": lambda **kw: nn.GRU(3, 4, bidirectional=True, **kw),
    "RNNCell": lambda **kw: nn.RNNCell(3, 4, **kw),
    "LSTMCell": lambda **kw: nn.LSTMCell(3, 4, **kw),
    "GRUCell": lambda **kw: nn.GRUCell(3, 4, **kw),
    "LayerNorm": lambda **kw: nn.LayerNorm(4, **kw),
    "MultiheadAttention": lambda **kw: nn.MultiheadAttention(4, 2, **kw),
    "TransformerEncoderLayer": lambda **kw: nn.TransformerEncoderLayer(4, 2, 8, **kw),
    "TransformerDecoderLayer": lambda **kw: nn.TransformerDecoderLayer(4, 2, 8, **kw),
    "LearnedPositionalEmbedding": lambda **kw: nn.LearnedPositionalEmbedding(5, 4, **kw),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factory_keywords(name, torch):
    make = FACTORIES[name]
    for kw in ({}, {"device": "cpu"}, {"dtype": np.float32}, {"dtype": "float32"}, {"dtype": torch.float32},
               {"device": torch.device("cpu"), "dtype": np.dtype(np.float32)}):
        m = make(**kw)
        assert all(isinstance(p.data, np.ndarray) and p.data.dtype == np.float32 for p in m.parameters())
    for bad in (np.float64, torch.float16, "int64", object):
        with pytest.raises(TypeError, match="dtype: fastlayers modules hold float32"):
            make(dtype=bad)
    with pytest.raises(ValueError, match="device"):
        make(device="tpu")
    if not fastlayers.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            make(device="cuda")


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factory_device_cuda(name, device_backend):
    for dev in ("cuda", "cuda:0", 0):
        m = FACTORIES[name](device=dev)
        for p in m.parameters():
            assert isinstance(p.data, fastlayers.cuda.Array) and p.data.dtype == np.float32
    with pytest.raises(ValueError, match="device"):
        FACTORIES[name](device="cuda:x")


MODULES_TWICE = {
    "Linear": (lambda: nn.Linear(4, 3), (2, 4)),
    "Maxout": (lambda: nn.Maxout(4, 3), (2, 4)),
    "ReLU": (nn.ReLU, (2, 4)),
    "Softmax": (lambda: nn.Softmax(1), (2, 4)),
    "Dropout": (lambda: nn.Dropout(0.5), (2, 4)),
    "Flatten": (nn.Flatten, (2, 2, 2)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 1), (1, 2, 3, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (2, 2, 3, 3)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (1, 1, 4, 4)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (1, 1, 4, 4)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(1), (1, 1, 4, 4)),
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)), (2, 4)),
}


@pytest.mark.parametrize("name", sorted(MODULES_TWICE))
def test_backward_consumes_the_forward(name, rng):
    make, shape = MODULES_TWICE[name]
    m = make()
    x = rng.standard_normal(shape).astype(np.float32)
    with pytest.raises(RuntimeError, match="before backward"):
        m.backward(np.ones_like(m.eval()(x)))
    m.train()
    y = m(x)
    g = np.ones_like(y)
    m.backward(g)
    with pytest.raises(RuntimeError, match="once per forward"):
        m.backward(g)
    m(x)
    m.backward(g)  # a new forward, a new backward


@pytest.mark.parametrize("make", [lambda: nn.CrossEntropyLoss(), lambda: nn.NLLLoss(), lambda: nn.MSELoss()])
def test_loss_backward_consumes_the_forward(make, rng):
    crit = make()
    with pytest.raises(RuntimeError, match="before backward"):
        crit.backward()
    x = rng.standard_normal((3, 4)).astype(np.float32)
    t = np.array([0, 3, 1]) if not isinstance(crit, nn.MSELoss) else x * 0
    crit(x, t)
    crit.backward()
    with pytest.raises(RuntimeError, match="once per forward"):
        crit.backward()


@pytest.mark.parametrize("kw,name", [
    (dict(kernel_size=2**62), "kernel_size"), (dict(kernel_size=2, stride=float("inf")), "stride"),
    (dict(kernel_size=2, stride=(float("inf"), 1)), "stride"), (dict(kernel_size=float("nan")), "kernel_size"),
    (dict(kernel_size=2, padding=2**70), "padding"), (dict(kernel_size=2, dilation=-2**63), "dilation"),
    (dict(kernel_size=(2, 2.5)), "kernel_size"), (dict(kernel_size=2**70), "kernel_size"),
])
@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_huge_pool_parameters_are_value_errors(op, kw, name):
    x = np.ones((1, 1, 4, 4), np.float32)
    if op == "avg_pool2d" and "dilation" in kw:  # avg_pool2d has no dilation
        kw, name = dict(kernel_size=2**62), "kernel_size"
    with pytest.raises(ValueError, match=name):
        getattr(F, op)(x, **kw)


def test_huge_pool_shapes_and_sizes_are_value_errors():
    g = np.ones((1, 1, 2, 2), np.float32)
    for shape in [(1, 1, float("inf"), 4), (1, 1, 2**70, 4), (1, 1, 4.5, 4), (1, 1, -4, 4)]:
        with pytest.raises(ValueError, match="input_shape"):
            F.avg_pool2d_backward(g, shape, 2)
        with pytest.raises(ValueError, match="input_shape"):
            F.adaptive_avg_pool2d_backward(g, shape)
    x = np.ones((1, 1, 4, 4), np.float32)
    for size in [float("inf"), (2, float("nan")), 2**70, (2, 2.0)]:
        with pytest.raises(ValueError, match="output_size"):
            F.adaptive_avg_pool2d(x, size)
    for d in (float("inf"), 2**70, 0, 1.5):
        with pytest.raises(ValueError, match="divisor_override"):
            F.avg_pool2d(x, 2, divisor_override=d)


def test_wide_windows_are_clipped_in_constant_time():
    """A window far wider than its (padded) input: the valid taps are found without a loop over
    the window, so this returns at once."""
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    k = 2**30
    y, idx = F.max_pool2d(x, k, padding=k // 2, return_indices=True)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 15 and idx[0, 0, 0, 0] == 15
    assert F.avg_pool2d(x, (k, 1), padding=(k // 2, 0), divisor_override=4).shape == (1, 1, 1, 4)


def test_set_num_threads_takes_integers_only():
    before = fastlayers.get_num_threads()
    try:
        for bad in (2.7, 2.0, "2", True, None):
            with pytest.raises(TypeError, match="thread count"):
                fastlayers.set_num_threads(bad)
        assert fastlayers.get_num_threads() == before
        fastlayers.set_num_threads(np.int64(1))
        assert fastlayers.get_num_threads() == 1
        with pytest.raises(ValueError):
            fastlayers.set_num_threads(0)
    finally:
        fastlayers.set_num_threads(before)
