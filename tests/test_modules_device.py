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
    """m.backward with the gradient of each output (modules of several outputs take them apart)."""
    return m.backward(*dy) if isinstance(dy, tuple) else m.backward(dy)


def _pair(factory):
    fastlayers.manual_seed(11)
    cpu = factory()
    fastlayers.manual_seed(11)
    dev = factory().to("cuda")
    return cpu, dev


def _check_step(cpu, dev, x, xd, dy, opt_cls=optim.SGD, **opt_kw):
    """One training step on both (xd: x on the device); outputs, input gradients, parameter
    gradients and updated parameters must agree."""
    oc = opt_cls(cpu.parameters(), **opt_kw) if list(cpu.parameters()) else None
    od = opt_cls(dev.parameters(), **opt_kw) if list(dev.parameters()) else None
    fastlayers.manual_seed(21)  # the same dropout masks on both
    y = cpu(x)
    fastlayers.manual_seed(21)
    yd = dev(xd)
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
