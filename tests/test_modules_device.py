"""Every module type of fastlayers.nn, and models.MLP / models.CNN, on the CUDA backend: moved
with .to("cuda"), a training step (forward, backward, optimizer step) and back with .to("cpu"),
checked against the same model on the CPU. Runs on a real GPU where one is usable, else on the
host stand-in of tools/cuda_emu (the whole Python device path on host memory): a module that
calls np.asarray on its input, or a loss that runs on the host, fails here without a GPU.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import cuda, models, nn, optim

from helpers import assert_close

pytestmark = pytest.mark.cuda  # selected by -m cuda (tools/gpu_check); runs on the stand-in without a GPU

# name -> (factory, input shape[, input maker]); every module type of fastlayers.nn. The input
# maker (rng, shape) -> host array gives inputs other than standard normal floats (indices).
MODULES = {
    "Linear": (lambda: nn.Linear(6, 5), (4, 6)),
    "Linear3d": (lambda: nn.Linear(6, 5, bias=False), (2, 3, 6)),
    "Maxout": (lambda: nn.Maxout(6, 4, pieces=3), (4, 6)),
    "Sigmoid": (nn.Sigmoid, (4, 7)),
    "Tanh": (nn.Tanh, (4, 7)),
    "ReLU": (nn.ReLU, (4, 7)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (4, 7)),
    "ELU": (nn.ELU, (4, 7)),
    "GELU": (lambda: nn.GELU("tanh"), (4, 7)),
    "SiLU": (nn.SiLU, (4, 7)),
    "Softmax": (lambda: nn.Softmax(dim=1), (4, 7)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), (4, 7)),
    "Dropout": (lambda: nn.Dropout(0.3), (8, 9)),
    "Conv1d": (lambda: nn.Conv1d(3, 4, 3, padding=1), (2, 3, 9)),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 8)),
    "Conv2d_depthwise": (lambda: nn.Conv2d(4, 4, 3, padding=1, groups=4), (2, 4, 6, 6)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 4)),
    "MaxPool1d": (lambda: nn.MaxPool1d(2), (2, 3, 9)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 3, 6, 7)),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, stride=2), (2, 3, 9)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2, padding=1), (2, 3, 6, 7)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(3), (2, 3, 7, 8)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(5), (6, 5)),
    "BatchNorm1d_3d": (lambda: nn.BatchNorm1d(3), (4, 3, 5)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 5)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 5)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 5)),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(3), (2, 3, 7)),
    "Flatten": (nn.Flatten, (2, 3, 4)),
    "Identity": (nn.Identity, (2, 3)),
    "Sequential": (lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh()), (5, 6)),
    "Embedding": (lambda: nn.Embedding(11, 6, padding_idx=3), (4, 7), lambda rng, shape: rng.integers(0, 11, shape)),
    "LSTM": (lambda: nn.LSTM(5, 4, num_layers=2, bidirectional=True), (6, 3, 5)),
    "GRU": (lambda: nn.GRU(5, 4, batch_first=True, dropout=0.3, num_layers=2), (3, 6, 5)),
    "RNN": (lambda: nn.RNN(5, 4, nonlinearity="relu", bias=False), (6, 3, 5)),
    "RNNCell": (lambda: nn.RNNCell(5, 4), (3, 5)),
    "LSTMCell": (lambda: nn.LSTMCell(5, 4), (3, 5)),
    "GRUCell": (lambda: nn.GRUCell(5, 4, bias=False), (3, 5)),
    "LayerNorm": (lambda: nn.LayerNorm(6), (3, 4, 6)),
    "LearnedPositionalEmbedding": (lambda: nn.LearnedPositionalEmbedding(9, 6, batch_first=False), (5, 2, 6)),
    "SinusoidalPositionalEncoding": (lambda: nn.SinusoidalPositionalEncoding(6, max_len=20), (2, 5, 6)),
    "LayerNorm_2d": (lambda: nn.LayerNorm((4, 6), bias=False), (3, 4, 6)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1), (5, 3, 8)),
    "TransformerEncoderLayer_prenorm_gelu": (
        lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation="gelu", norm_first=True,
                                           batch_first=True), (3, 5, 8)),
    "TransformerEncoder": (
        lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 4, dim_feedforward=12, dropout=0.0), 2,
                                      norm=nn.LayerNorm(8)), (4, 2, 8)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    "Upsample_bilinear": (lambda: nn.Upsample(size=(7, 9), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d((1, 2, 3, 0)), (2, 3, 4, 5)),
    "ZeroPad2d": (lambda: nn.ZeroPad2d(2), (2, 3, 4, 5)),
    "ReplicationPad2d": (lambda: nn.ReplicationPad2d(1), (2, 3, 4, 5)),
    "Conv2d_reflect": (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (2, 3, 6, 7)),
    "Conv1d_circular": (lambda: nn.Conv1d(3, 4, 3, padding=2, padding_mode="circular"), (2, 3, 9)),
}


def _input(rng, entry):
    shape = entry[1]
    return entry[2](rng, shape) if len(entry) > 2 else rng.standard_normal(shape).astype(np.float32)


def _put(device_backend, x):
    """x on the device: float data as float32, indices keeping their int64 dtype."""
    return cuda.to_device(x) if x.dtype.kind == "f" else device_backend.put_like(x)


def _leaves(y):
    """The arrays of a module's output or gradient (nested tuples; None skipped), in order."""
    if y is None:
        return []
    if isinstance(y, (tuple, list)):
        return [a for v in y for a in _leaves(v)]
    return [y]


def _like(y, rng):
    """Random host arrays in the structure of the output y (a gradient for it)."""
    if isinstance(y, (tuple, list)):
        return type(y)(_like(v, rng) for v in y)
    return rng.standard_normal(y.shape).astype(np.float32)


def _to_device(g):
    if isinstance(g, (tuple, list)):
        return type(g)(_to_device(v) for v in g)
    return cuda.to_device(g)


def _backward(m, dy):
    """m.backward with the gradient of each output (modules of several outputs take them apart;
    LSTMCell takes its (dh', dc') as one pair)."""
    return m.backward(*dy) if isinstance(dy, tuple) and not isinstance(m, nn.LSTMCell) else m.backward(dy)


def _pair(factory):
    fastlayers.manual_seed(11)
    cpu = factory()
    fastlayers.manual_seed(11)
    dev = factory().to("cuda")
    return cpu, dev


def _check_step(cpu, dev, x, xd, dy, opt_cls=optim.SGD, call=None, **opt_kw):
    """One training step on both (xd: x on the device; a tuple of inputs when the module takes
    several, with forward's keyword arguments in call); outputs, input gradients, parameter
    gradients and updated parameters must agree."""
    oc = opt_cls(cpu.parameters(), **opt_kw) if list(cpu.parameters()) else None
    od = opt_cls(dev.parameters(), **opt_kw) if list(dev.parameters()) else None
    x, xd, call = (x, xd, call or {}) if isinstance(x, tuple) else ((x,), (xd,), {})
    fastlayers.manual_seed(21)  # the same dropout masks on both
    y = cpu(*x, **call)
    fastlayers.manual_seed(21)
    yd = dev(*xd, **call)
    assert len(_leaves(yd)) == len(_leaves(y))
    for a, b in zip(_leaves(yd), _leaves(y)):
        assert isinstance(a, cuda.Array), type(a)
        assert_close(a.numpy(), b, rtol=1e-5, atol=1e-5, what="forward")
    dx = _backward(cpu, dy)
    dxd = _backward(dev, _to_device(dy))
    assert len(_leaves(dxd)) == len(_leaves(dx))  # None for index inputs (nn.Embedding)
    for a, b in zip(_leaves(dxd), _leaves(dx)):
        assert isinstance(a, cuda.Array)
        assert_close(a.numpy(), b, rtol=1e-4, atol=1e-5, what="backward")
    for (k, pc), (_, pd) in zip(cpu.named_parameters(), dev.named_parameters()):
        assert isinstance(pd.grad, cuda.Array), k
        assert_close(pd.grad.numpy(), pc.grad, rtol=1e-4, atol=1e-5, what=f"{k}.grad")
    if oc is not None:
        oc.step()
        od.step()
    for (k, pc), (_, pd) in zip(cpu.named_parameters(), dev.named_parameters()):
        assert isinstance(pd.data, cuda.Array), k
        assert_close(pd.data.numpy(), pc.data, rtol=1e-5, atol=1e-6, what=k)


@pytest.mark.parametrize("name", list(MODULES))
def test_module_trains_on_the_device(device_backend, name, rng):
    factory = MODULES[name][0]
    cpu, dev = _pair(factory)
    x = _input(rng, MODULES[name])
    xd = _put(device_backend, x)
    dy = _like(cpu(x), rng)
    cpu, dev = _pair(factory)
    _check_step(cpu, dev, x, xd, dy, optim.SGD, lr=0.1, momentum=0.9)
    # eval mode caches nothing and gives the CPU's answer (batch norm: running statistics)
    cpu.eval()
    dev.eval()
    for a, b in zip(_leaves(dev(xd)), _leaves(cpu(x))):
        assert_close(a.numpy(), b, rtol=1e-5, atol=1e-5, what="eval")
    # state_dict holds host arrays equal to the CPU model's; the model goes back to the host
    sd = dev.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    for k, v in cpu.state_dict().items():
        assert_close(sd[k], v, rtol=1e-5, atol=1e-6, what=k)
    back = dev.to("cpu")
    assert all(isinstance(p.data, np.ndarray) for p in back.parameters())
    for a, b in zip(_leaves(back(x)), _leaves(cpu(x))):
        assert_close(a, b, rtol=1e-5, atol=1e-5, what="back on the host")


# name -> (factory, forward's keyword arguments, which inputs are one array: "self" (query is key
# is value), "kv" (key is value) or "" (three arrays), batch_first).
ATTENTION = {
    "self_fused": (lambda: nn.MultiheadAttention(8, 2), dict(need_weights=False), "self", False),
    "self_weights_dropout": (lambda: nn.MultiheadAttention(8, 2, dropout=0.2), dict(average_attn_weights=False),
                             "self", False),
    "cross_padding_mask": (lambda: nn.MultiheadAttention(8, 4, batch_first=True),
                           dict(need_weights=False, key_padding_mask="kpm"), "kv", True),
    "self_device_padding_mask": (lambda: nn.MultiheadAttention(8, 2), dict(key_padding_mask="kpm_device"), "self",
                                 False),
    "cross_weights_float_mask": (lambda: nn.MultiheadAttention(8, 2), dict(attn_mask="float"), "", False),
    "kdim_vdim_causal": (lambda: nn.MultiheadAttention(8, 2, kdim=5, vdim=3, bias=False),
                         dict(need_weights=False, is_causal=True), "", False),
}


@pytest.mark.parametrize("name", list(ATTENTION))
def test_multihead_attention_trains_on_the_device(device_backend, name, rng):
    """nn.MultiheadAttention (fused and explicit-weights paths, masks, dropout, kdim/vdim) on
    device arrays: out, weights, (d_query, d_key, d_value), every .grad and an SGD step agree
    with the CPU."""
    factory, kw, same, bf = ATTENTION[name]
    N, L, S = 3, 5, 6
    cpu, dev = _pair(factory)
    shape = (lambda T, d: (N, T, d)) if bf else (lambda T, d: (T, N, d))
    q = rng.standard_normal(shape(L, 8)).astype(np.float32)
    k = rng.standard_normal(shape(S if same != "self" else L, cpu.kdim)).astype(np.float32)
    v = rng.standard_normal(shape(S if same != "self" else L, cpu.vdim)).astype(np.float32)
    qd, kd, vd = cuda.to_device(q), cuda.to_device(k), cuda.to_device(v)
    x, xd = {"self": ((q, q, q), (qd, qd, qd)), "kv": ((q, k, k), (qd, kd, kd)), "": ((q, k, v), (qd, kd, vd))}[same]
    call = dict(kw)
    if call.get("key_padding_mask") in ("kpm", "kpm_device"):
        kpm = np.zeros((N, k.shape[1] if bf else k.shape[0]), bool)
        kpm[0, 4:] = kpm[2, :2] = True
        call["key_padding_mask"] = device_backend.put_like(kpm) if call["key_padding_mask"] == "kpm_device" else kpm
    if call.get("attn_mask") == "float":
        call["attn_mask"] = rng.standard_normal((L, S)).astype(np.float32)
    dy = rng.standard_normal(q.shape).astype(np.float32)
    _check_step(cpu, dev, x, xd, dy, optim.SGD, call=call, lr=0.1)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_decoder_layer_trains_on_the_device(device_backend, norm_first, rng):
    """nn.TransformerDecoderLayer (self-attention with a causal mask, cross-attention, feed-forward):
    (d_tgt, d_memory) and the parameters after an Adam step agree with the CPU."""
    factory = lambda: nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.1, norm_first=norm_first,  # noqa: E731
                                                 batch_first=True)
    cpu, dev = _pair(factory)
    tgt = rng.standard_normal((3, 5, 8)).astype(np.float32)
    mem = rng.standard_normal((3, 7, 8)).astype(np.float32)
    mask = np.triu(np.ones((5, 5), bool), k=1)
    dy = rng.standard_normal(tgt.shape).astype(np.float32)
    _check_step(cpu, dev, (tgt, mem), (cuda.to_device(tgt), cuda.to_device(mem)), dy, optim.Adam,
                call=dict(tgt_mask=mask, tgt_is_causal=True), lr=1e-2)


def test_gpt_trains_on_the_device(device_backend, rng):
    """models.GPT (embeddings, causal pre-norm blocks, tied head) on device token ids: the
    cross-entropy losses and the parameters after two AdamW steps agree with the CPU, and
    generate() on the device model gives the CPU model's tokens."""
    kw = dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.1)
    fastlayers.manual_seed(4)
    cpu = models.GPT(**kw)
    fastlayers.manual_seed(4)
    dev = models.GPT(**kw).to("cuda")
    idx = rng.integers(0, 13, (3, 7))
    target = rng.integers(0, 13, (3 * 7,))
    idx_d, t_d = device_backend.put_like(idx), device_backend.put_like(target)
    oc, od = optim.AdamW(cpu.parameters(), lr=1e-2), optim.AdamW(dev.parameters(), lr=1e-2)
    crit_cpu, crit_dev = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    for _ in range(2):
        oc.zero_grad()
        od.zero_grad()
        fastlayers.manual_seed(9)
        lc = crit_cpu(cpu(idx).reshape(-1, 13), target)
        fastlayers.manual_seed(9)
        ld = crit_dev(dev(idx_d).reshape(-1, 13), t_d)
        assert abs(ld - lc) <= 1e-4 * max(1.0, abs(lc))
        cpu.backward(crit_cpu.backward().reshape(3, 7, 13))
        dev.backward(crit_dev.backward().reshape(3, 7, 13))
        oc.step()
        od.step()
    for (k, pc), (_, pd) in zip(cpu.named_parameters(), dev.named_parameters()):
        assert_close(pd.data.numpy(), pc.data, rtol=1e-4, atol=1e-5, what=k)
    seed = np.random.default_rng(0), np.random.default_rng(0)
    np.testing.assert_array_equal(dev.generate(idx[:1, :3], 4, rng=seed[0]), cpu.generate(idx[:1, :3], 4, rng=seed[1]))


def test_input_on_the_wrong_device_is_a_type_error(device_backend):
    m = nn.Linear(3, 2).to("cuda")
    with pytest.raises(TypeError, match="mixing devices"):
        m(np.ones((1, 3), np.float32))


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_mlp_training_step_with_loss_on_the_device(device_backend, loss, rng):
    """models.MLP: crit(model(x), y), model.backward(crit.backward()), Adam: the losses agree and
    the parameters after three steps agree."""
    x = rng.standard_normal((16, 2)).astype(np.float32)
    if loss == "cross_entropy":
        target = rng.integers(0, 3, 16)
        crit_cpu, crit_dev = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
        t_dev = device_backend.put_like(target)
    else:
        target = rng.standard_normal((16, 3)).astype(np.float32)
        crit_cpu, crit_dev = nn.MSELoss(), nn.MSELoss()
        t_dev = cuda.to_device(target)
    fastlayers.manual_seed(3)
    cpu = models.MLP(2, (8, 8), 3)
    fastlayers.manual_seed(3)
    dev = models.MLP(2, (8, 8), 3).to("cuda")
    oc, od = optim.Adam(cpu.parameters(), lr=1e-2), optim.Adam(dev.parameters(), lr=1e-2)
    xd = cuda.to_device(x)
    for _ in range(3):
        oc.zero_grad()
        od.zero_grad()
        lc = crit_cpu(cpu(x), target)
        ld = crit_dev(dev(xd), t_dev)
        assert isinstance(ld, float)
        assert abs(ld - lc) <= 1e-5 * max(1.0, abs(lc))
        cpu.backward(crit_cpu.backward())
        g = crit_dev.backward()
        assert isinstance(g, cuda.Array)
        dev.backward(g)
        oc.step()
        od.step()
    for (k, pc), (_, pd) in zip(cpu.named_parameters(), dev.named_parameters()):
        assert_close(pd.data.numpy(), pc.data, rtol=1e-5, atol=1e-6, what=k)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_cnn_trains_on_the_device(device_backend, batch_norm, rng):
    """models.CNN (conv, batch norm, pooling, dropout, linear) through .to("cuda"), two training
    steps with cross-entropy and SGD, and back."""
    kw = dict(in_channels=1, num_classes=4, input_size=8, channels=(3, 4), kernel_size=3, padding="same",
              hidden=(6,), batch_norm=batch_norm, dropout=0.25)
    x = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    target = rng.integers(0, 4, 5)
    fastlayers.manual_seed(5)
    cpu = models.CNN(**kw)
    fastlayers.manual_seed(5)
    dev = models.CNN(**kw).to("cuda")
    oc, od = optim.SGD(cpu.parameters(), lr=0.05, momentum=0.9), optim.SGD(dev.parameters(), lr=0.05, momentum=0.9)
    crit_cpu, crit_dev = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    xd, td = cuda.to_device(x), device_backend.put_like(target)
    for _ in range(2):
        oc.zero_grad()
        od.zero_grad()
        fastlayers.manual_seed(9)  # the same dropout masks on both
        lc = crit_cpu(cpu(x), target)
        fastlayers.manual_seed(9)
        ld = crit_dev(dev(xd), td)
        assert abs(ld - lc) <= 1e-4 * max(1.0, abs(lc))
        cpu.backward(crit_cpu.backward())
        dev.backward(crit_dev.backward())
        oc.step()
        od.step()
    for (k, pc), (_, pd) in zip(cpu.named_parameters(), dev.named_parameters()):
        assert_close(pd.data.numpy(), pc.data, rtol=1e-4, atol=1e-5, what=k)
    back = dev.to("cpu")
    cpu.eval()
    back.eval()
    assert_close(back(x), cpu(x), rtol=1e-4, atol=1e-5)


def test_transformer_training_step_stays_on_the_device(device_backend, monkeypatch, rng):
    """An encoder and a decoder layer's forward and backward (masks, dropout, both attention
    paths' glue: residual sums, head permutations) copy nothing from the device to the host."""
    from fastlayers._backend import device as _device
    copies = []
    real = _device._rt.cuda_copy_to_host
    monkeypatch.setattr(_device._rt, "cuda_copy_to_host", lambda out, mem: (copies.append(out.shape), real(out, mem)))
    enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, batch_first=True).to("cuda")
    dec = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.1, norm_first=True).to("cuda")
    x = cuda.to_device(rng.standard_normal((3, 5, 8)).astype(np.float32))
    mem = cuda.to_device(rng.standard_normal((4, 3, 8)).astype(np.float32))
    kpm = np.zeros((3, 5), bool)
    kpm[1, 3:] = True
    y = enc(x, src_key_padding_mask=kpm)
    enc.backward(cuda.to_device(np.ones(y.shape, np.float32)))
    t = cuda.to_device(rng.standard_normal((5, 3, 8)).astype(np.float32))
    z = dec(t, mem, tgt_is_causal=True, tgt_mask=np.triu(np.ones((5, 5), bool), k=1))
    dec.backward(cuda.to_device(np.ones(z.shape, np.float32)))
    assert copies == []
