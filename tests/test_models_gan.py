"""fastlayers.models.Generator / Discriminator / DCGAN: layer layout and shapes, state_dict keys,
PyTorch parity of outputs and gradients (a hand-built torch.nn.Sequential loaded with the same
state_dict), the explicit-backward GAN step (D's gradients from the generator step are left in
D's .grad and cleared by zero_grad), bad arguments."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers
from fastlayers import nn
from fastlayers.models import DCGAN, Discriminator, Generator
from fastlayers.models.gan import init_weights

from helpers import assert_close


def _torch_generator(torch, g: Generator):
    t = torch.nn
    c = g.ngf * 2 ** (_k(g.image_size) - 1)
    layers = [t.ConvTranspose2d(g.nz, c, 4, 1, 0, bias=False), t.BatchNorm2d(c), t.ReLU()]
    for _ in range(_k(g.image_size) - 1):
        layers += [t.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), t.BatchNorm2d(c // 2), t.ReLU()]
        c //= 2
    for _ in range(g.extra_layers):
        layers += [t.ConvTranspose2d(c, c, 3, 1, 1, bias=False), t.BatchNorm2d(c), t.ReLU()]
    layers += [t.ConvTranspose2d(c, g.channels, 4, 2, 1, bias=False), t.Tanh()]
    return _loaded(torch, t.Sequential(*layers), g)


def _torch_discriminator(torch, d: Discriminator):
    t = torch.nn
    layers, c = [t.Conv2d(d.channels, d.ndf, 4, 2, 1), t.LeakyReLU(0.2)], d.ndf
    for _ in range(d.extra_layers):
        layers += [t.Conv2d(c, c, 3, 1, 1), t.LeakyReLU(0.2)]
    for _ in range(_k(d.image_size) - 1):
        layers += [t.Conv2d(c, 2 * c, 4, 2, 1), t.LeakyReLU(0.2)]
        c *= 2
    layers += [t.Conv2d(c, 1, 4, 1, 0), t.Flatten()]
    return _loaded(torch, t.Sequential(*layers), d)


def _k(size: int) -> int:
    return int(np.log2(size // 4))


def _loaded(torch, seq, model):
    sd = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    seq.load_state_dict(sd)  # strict: the same keys and shapes
    return seq.double()


@pytest.mark.parametrize("size,extra", [(8, 0), (8, 1), (16, 0), (32, 1)])
def test_shapes_and_keys(size, extra):
    fastlayers.manual_seed(0)
    g, d = Generator(16, 8, 3, size, extra), Discriminator(8, 3, size, extra)
    z, x = g.sample(5, seed=1)
    assert z.shape == (5, 16) and x.shape == (5, 3, size, size) and x.dtype == np.float32
    assert np.abs(x).max() <= 1.0
    assert d(x).shape == (5, 1)
    assert g(z[:, :, None, None]).shape == x.shape
    keys = list(DCGAN(16, 8, 8, 3, size, extra).state_dict())
    assert keys[:6] == ["generator.0.weight", "generator.1.weight", "generator.1.bias", "generator.1.running_mean",
                        "generator.1.running_var", "generator.1.num_batches_tracked"]
    assert "discriminator.0.weight" in keys and "discriminator.0.bias" in keys


@pytest.mark.parametrize("size,extra", [(8, 1), (16, 0)])
def test_torch_parity(torch, size, extra):
    fastlayers.manual_seed(3)
    g = init_weights(Generator(8, 4, 1, size, extra))
    d = init_weights(Discriminator(4, 1, size, extra))
    tg, td = _torch_generator(torch, g), _torch_discriminator(torch, d)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 8)).astype(np.float32)
    # training mode: batch statistics; D(G(z)) and the gradients of sum(D(G(z)) * w)
    x = g(z)
    logits = d(x)
    zt = torch.tensor(z[:, :, None, None].astype(np.float64), requires_grad=True)
    xt = tg(zt)
    lt = td(xt)
    assert_close(x, xt.detach().numpy(), rtol=1e-4, atol=1e-5, what="G(z)")
    assert_close(logits, lt.detach().numpy(), rtol=1e-4, atol=1e-5, what="D(G(z))")
    w = rng.standard_normal(logits.shape).astype(np.float32)
    dz = g.backward(d.backward(w), need_input_grad=True)
    (lt * torch.from_numpy(w.astype(np.float64))).sum().backward()
    assert_close(dz.reshape(6, 8), zt.grad.numpy().reshape(6, 8), rtol=1e-3, atol=1e-5, what="dz")
    for (name, p), tp in zip(list(g.named_parameters()) + list(d.named_parameters()),
                             list(tg.parameters()) + list(td.parameters())):
        assert_close(p.grad, tp.grad.numpy(), rtol=1e-3, atol=1e-5, what=name)
    # eval mode: the running statistics both sides updated in the forward above
    g.eval()
    tg.eval()
    assert_close(g(z), tg(torch.from_numpy(z[:, :, None, None].astype(np.float64))).detach().numpy(),
                 rtol=1e-4, atol=1e-5, what="G(z) eval")


def test_gan_step_keeps_d_grads_out_of_d_update():
    """The generator step's D.backward accumulates D's .grad; D.zero_grad() clears it before D's
    own step, so D's update depends only on its own losses."""
    fastlayers.manual_seed(0)
    gan = DCGAN(8, 4, 4)
    g, d = gan.generator, gan.discriminator
    bce = nn.BCEWithLogitsLoss()
    fake = g(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32))
    bce(d(fake), np.ones((4, 1), np.float32))
    g.backward(d.backward(bce.backward()))
    assert all(p.grad is not None for p in d.parameters()) and all(p.grad is not None for p in g.parameters())
    d.zero_grad()
    assert all(p.grad is None for p in d.parameters())
    assert gan(np.zeros((2, 8), np.float32)).shape == (2, 1)


def test_init_weights_statistics():
    fastlayers.manual_seed(1)
    g = init_weights(Generator(32, 32, 1, 16))
    w = np.concatenate([m.weight.data.ravel() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean()) < 2e-3 and abs(w.std() - 0.02) < 2e-3
    bn = np.concatenate([m.weight.data for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean() - 1.0) < 0.01


@pytest.mark.parametrize("kwargs,msg", [(dict(image_size=12), "image_size"), (dict(image_size=4), "image_size"),
                                        (dict(nz=0), "nz"), (dict(ngf=2.5), "ngf"), (dict(extra_layers=-1), "extra")])
def test_bad_generator_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Generator(**kwargs)


def test_bad_inputs():
    g, d = Generator(8, 4), Discriminator(4)
    with pytest.raises(ValueError, match=r"z of shape \(N, 8\)"):
        g(np.zeros((2, 7), np.float32))
    with pytest.raises(ValueError, match=r"images of shape \(N, 1, 8, 8\)"):
        d(np.zeros((2, 1, 16, 16), np.float32))
    with pytest.raises(ValueError, match="image_size"):
        Discriminator(image_size=10)
