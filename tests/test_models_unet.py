"""fastlayers.models.UNet: shapes and state_dict keys, PyTorch parity of the logits, dL/dinput
and every parameter gradient (a hand-built torch module with the same attributes, loaded with
the same state_dict) in training and eval mode, the segment demo's IoU arithmetic, bad
arguments and inputs."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers.demo.segment import confusion, iou_per_class
from fastlayers.models import UNet

from helpers import assert_close


def _torch_unet(torch, m: UNet):
    t = torch.nn

    def block(cin, cout):
        layers = []
        for c in (cin, cout):
            layers.append(t.Conv2d(c, cout, 3, padding=1, bias=not m.batch_norm))
            if m.batch_norm:
                layers.append(t.BatchNorm2d(cout))
            layers.append(t.ReLU())
        return t.Sequential(*layers)

    class TorchUNet(t.Module):
        def __init__(self):
            super().__init__()
            w = [m.base * 2 ** i for i in range(m.depth + 1)]
            self.encoder = t.ModuleList(block(c, o) for c, o in zip([m.in_channels] + w[:-2], w[:-1]))
            self.bottleneck = block(w[-2], w[-1])
            self.up = t.ModuleList(t.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in reversed(range(m.depth)))
            self.decoder = t.ModuleList(block(2 * w[i], w[i]) for i in reversed(range(m.depth)))
            self.head = t.Conv2d(m.base, m.num_classes, 1)

        def forward(self, x):
            skips = []
            for enc in self.encoder:
                x = enc(x)
                skips.append(x)
                x = t.functional.max_pool2d(x, 2)
            x = self.bottleneck(x)
            for up, dec, skip in zip(self.up, self.decoder, reversed(skips)):
                x = dec(torch.cat([skip, up(x)], 1))
            return self.head(x)

    tm = TorchUNet()
    tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in m.state_dict().items()})  # strict
    return tm.double()


def test_shapes_and_keys():
    fastlayers.manual_seed(0)
    m = UNet(3, 4, base=4, depth=3)
    x = np.random.default_rng(0).random((2, 3, 16, 24), dtype=np.float32)
    assert m(x).shape == (2, 4, 16, 24)
    assert m.predict(x).shape == (2, 16, 24)
    keys = list(m.state_dict())
    assert keys[:3] == ["encoder.0.0.weight", "encoder.0.1.weight", "encoder.0.1.bias"]
    for k in ("encoder.2.3.weight", "bottleneck.4.running_var", "up.0.weight", "up.2.bias",
              "decoder.2.0.weight", "head.weight", "head.bias"):
        assert k in keys, k
    assert m.up[0].weight.shape == (32, 16, 2, 2) and m.decoder[0][0].weight.shape == (16, 32, 3, 3)
    assert "encoder.0.0.bias" in UNet(1, 2, 4, 1, batch_norm=False).state_dict()


@pytest.mark.parametrize("batch_norm", [True, False])
def test_torch_parity(torch, batch_norm):
    fastlayers.manual_seed(1)
    m = UNet(3, 4, base=4, depth=2, batch_norm=batch_norm)
    tm = _torch_unet(torch, m)
    rng = np.random.default_rng(0)
    x = rng.random((3, 3, 16, 16), dtype=np.float32)
    y = m(x)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    yt = tm(xt)
    assert_close(y, yt.detach().numpy(), rtol=1e-4, atol=1e-5, what="logits")
    w = rng.standard_normal(y.shape).astype(np.float32)
    dx = m.backward(w)
    (yt * torch.from_numpy(w.astype(np.float64))).sum().backward()
    assert_close(dx, xt.grad.numpy(), rtol=1e-3, atol=1e-4, what="dinput")
    for (name, p), tp in zip(m.named_parameters(), tm.parameters()):
        assert_close(p.grad, tp.grad.numpy(), rtol=1e-3, atol=1e-4, what=name)
    m.eval()
    tm.eval()
    assert_close(m(x), tm(torch.from_numpy(x.astype(np.float64))).detach().numpy(), rtol=1e-4, atol=1e-5,
                 what="logits in eval mode")


def test_backward_without_input_grad_keeps_parameter_grads():
    fastlayers.manual_seed(2)
    m = UNet(1, 2, base=2, depth=1)
    x = np.random.default_rng(1).random((2, 1, 8, 8), dtype=np.float32)
    g = np.ones((2, 2, 8, 8), np.float32)
    m(x)
    full = m.backward(g)
    grads = [p.grad.copy() for p in m.parameters()]
    m.zero_grad()
    m(x)
    assert full.shape == x.shape and m.backward(g, need_input_grad=False) is None
    for a, p in zip(grads, m.parameters()):
        assert_close(p.grad, a, rtol=1e-6, atol=1e-7, what="grad")


def test_iou_arithmetic():
    truth = np.array([[0, 0, 1, 1], [0, 2, 2, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 2, 0, 1]])
    cm = confusion(pred, truth, 4)
    assert cm.sum() == 8 and cm[0, 1] == 1 and cm[2, 0] == 1
    iou = iou_per_class(cm)
    assert iou[0] == pytest.approx(2 / 4) and iou[1] == pytest.approx(3 / 4) and iou[2] == pytest.approx(1 / 2)
    assert np.isnan(iou[3])


@pytest.mark.parametrize("kwargs,msg", [(dict(base=0), "base"), (dict(depth=0), "depth"),
                                        (dict(num_classes=1.5), "num_classes"),
                                        (dict(in_channels=True), "in_channels")])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        UNet(**kwargs)


def test_bad_inputs():
    m = UNet(3, 2, base=2, depth=2)
    with pytest.raises(ValueError, match=r"multiples of 4, got \(1, 3, 10, 8\)"):
        m(np.zeros((1, 3, 10, 8), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        m(np.zeros((1, 1, 8, 8), np.float32))
