"""CUDA optimizer, pooling, batch-norm and convolution paths (fastlayers._cuda_optim,
_cuda_pool, _cuda_norm, _cuda_conv and csrc/cuda/{optim,pool,norm,conv}.cu).

- Everywhere: without a GPU every new entry point raises RuntimeError saying why, and mixing
  CPU and GPU arrays is a TypeError naming the arguments.
- Everywhere: the device paths' Python glue (argument checks, shapes, out=, state handling)
  runs on a host stand-in of the CUDA entry points (CPU kernels on host buffers, as
  tests/test_cuda_glue.py does) and must give the CPU path's results.
- Marked `cuda` (a usable GPU): the same comparisons on the real kernels. The kernels are
  unverified on a GPU at the time of writing; tools/cuda_emu checks them by host emulation
  (tests/test_cuda_emulation.py).
"""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.functional as F
from fastlayers import _core, _cuda_activation, _cuda_conv, _cuda_norm, _cuda_optim, _cuda_pool, cuda, nn, optim

from helpers import assert_close
from test_cuda import FakeGpuArray, no_gpu
from test_cuda_glue import FakeCore, HostMem

# ---- without a GPU: clear errors -------------------------------------------------------------


def _param_on_fake_gpu():
    p = nn.Parameter(np.zeros(4, np.float32))
    p.data, p.grad = FakeGpuArray(), FakeGpuArray()
    return p


@no_gpu
@pytest.mark.parametrize("call", [
    lambda: F.conv2d(FakeGpuArray((1, 2, 5, 5)), FakeGpuArray((3, 2, 3, 3))),
    lambda: F.conv1d(FakeGpuArray((1, 2, 5)), FakeGpuArray((3, 2, 3)), FakeGpuArray((3,))),
    lambda: F.conv2d_backward_input(FakeGpuArray((1, 3, 3, 3)), FakeGpuArray((3, 2, 3, 3)), (1, 2, 5, 5)),
    lambda: F.conv2d_backward_weight(FakeGpuArray((1, 3, 3, 3)), FakeGpuArray((1, 2, 5, 5)), (3, 2, 3, 3)),
    lambda: F.conv2d_backward_bias(FakeGpuArray((1, 3, 3, 3))),
    lambda: F.conv2d_backward(FakeGpuArray((1, 3, 3, 3)), FakeGpuArray((1, 2, 5, 5)), FakeGpuArray((3, 2, 3, 3))),
    lambda: F.conv1d_backward(FakeGpuArray((1, 3, 3)), FakeGpuArray((1, 2, 5)), FakeGpuArray((3, 2, 3))),
    lambda: F.conv_transpose2d(FakeGpuArray((1, 2, 3, 3)), FakeGpuArray((2, 3, 3, 3))),
    lambda: F.conv_transpose2d_backward(FakeGpuArray((1, 3, 5, 5)), FakeGpuArray((1, 2, 3, 3)),
                                        FakeGpuArray((2, 3, 3, 3))),
    lambda: F.max_pool2d(FakeGpuArray((1, 2, 4, 4)), 2, return_indices=True),
    lambda: F.max_pool1d(FakeGpuArray((1, 2, 4)), 2),
    lambda: F.max_pool2d_backward(FakeGpuArray((1, 2, 2, 2)), FakeGpuArray((1, 2, 2, 2)), (1, 2, 4, 4)),
    lambda: F.avg_pool2d(FakeGpuArray((1, 2, 4, 4)), 2),
    lambda: F.avg_pool1d_backward(FakeGpuArray((1, 2, 2)), (1, 2, 4), 2),
    lambda: F.adaptive_avg_pool2d(FakeGpuArray((1, 2, 4, 4)), 3),
    lambda: F.adaptive_avg_pool2d_backward(FakeGpuArray((1, 2, 3, 3)), (1, 2, 4, 4)),
    lambda: F.global_avg_pool2d_backward(FakeGpuArray((1, 2)), (1, 2, 4, 4)),
    lambda: F.batch_norm(FakeGpuArray((4, 2)), FakeGpuArray((2,)), FakeGpuArray((2,)), training=True),
    lambda: F.batch_norm_backward(FakeGpuArray((4, 2)), FakeGpuArray((4, 2))),
    lambda: optim.SGD([_param_on_fake_gpu()], lr=0.1, momentum=0.9).step(),
    lambda: optim.Adam([_param_on_fake_gpu()]).step(),
    lambda: optim.AdamW([_param_on_fake_gpu()], amsgrad=True).step(),
    lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU()).to("cuda"),
    lambda: nn.Linear(2, 3).to("cuda:0"),
])
def test_entry_points_without_gpu_raise(call):
    with pytest.raises(RuntimeError, match="CUDA is not available|without CUDA"):
        call()


@no_gpu
@pytest.mark.parametrize("name", ["cuda_sgd_update", "cuda_adam_update", "cuda_max_pool2d_forward",
                                  "cuda_max_pool2d_backward", "cuda_avg_pool2d", "cuda_batch_norm_forward",
                                  "cuda_batch_norm_stats", "cuda_batch_norm_backward", "cuda_conv2d_forward",
                                  "cuda_conv2d_backward_input", "cuda_conv2d_backward_weight",
                                  "cuda_conv_bias_backward"])
def test_bindings_exist_in_every_build(name):
    assert callable(getattr(_core, name))
    if not _core.cuda_built:
        with pytest.raises(RuntimeError, match="without CUDA"):
            getattr(_core, name)()


@pytest.mark.parametrize("call, names", [
    (lambda: F.conv2d(np.ones((1, 2, 5, 5), np.float32), FakeGpuArray((3, 2, 3, 3))), ("weight", "input")),
    (lambda: F.conv2d(FakeGpuArray((1, 2, 5, 5)), FakeGpuArray((3, 2, 3, 3)), np.ones(3, np.float32)),
     ("input", "bias")),
    (lambda: F.conv_transpose2d(FakeGpuArray((1, 2, 3, 3)), np.ones((2, 3, 3, 3), np.float32)), ("input", "weight")),
    (lambda: F.max_pool2d_backward(FakeGpuArray((1, 2, 2, 2)), np.zeros((1, 2, 2, 2), np.int64), (1, 2, 4, 4)),
     ("grad_out", "indices")),
    (lambda: F.avg_pool2d(FakeGpuArray((1, 2, 4, 4)), 2, out=np.empty((1, 2, 2, 2), np.float32)), ("input", "out")),
    (lambda: F.batch_norm(FakeGpuArray((4, 2)), np.zeros(2, np.float32), np.ones(2, np.float32)),
     ("input", "running_mean")),
    (lambda: F.batch_norm_backward(FakeGpuArray((4, 2)), np.ones((4, 2), np.float32)), ("grad_out", "x")),
])
def test_mixing_devices_is_a_type_error(call, names):
    with pytest.raises(TypeError, match="mixing devices") as e:
        call()
    for n in names:
        assert n in str(e.value)


def test_optimizer_group_mixing_devices_is_a_type_error():
    cpu = nn.Parameter(np.zeros(4, np.float32))
    cpu.grad = np.ones(4, np.float32)
    with pytest.raises(TypeError, match="mixes GPU and CPU"):
        optim.SGD([cpu, _param_on_fake_gpu()], lr=0.1).step()


# ---- the comparisons (device path vs CPU path), run on the stand-in and on a GPU --------------

def _dev(a):
    return cuda.to_device(a)


def _host(a):
    return a.numpy() if isinstance(a, cuda.Array) else a


CONV_CASES = [  # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 3, 7, 6), (5, 3, 3, 2), 1, (1, 0), 1, 1),
    ((1, 4, 9, 9), (6, 2, 3, 3), 2, 1, 2, 2),
    ((2, 3, 5, 7), (3, 1, 3, 3), (2, 1), 1, 1, 3),  # depthwise
    ((3, 4, 8, 8), (8, 4, 1, 1), 1, 0, 1, 1),       # 1 x 1
    ((4, 6, 6), (6, 4, 3, 3), 1, "same", 1, 1),     # unbatched, 'same'
]


def check_conv(rng):
    for xs, ws, stride, padding, dilation, groups in CONV_CASES:
        x = rng.integers(-2, 3, xs).astype(np.float32)
        w = rng.integers(-2, 3, ws).astype(np.float32)
        b = rng.integers(-2, 3, ws[0]).astype(np.float32)
        args = (stride, padding, dilation, groups)
        y = F.conv2d(x, w, b, *args)
        yd = F.conv2d(_dev(x), _dev(w), _dev(b), *args)
        assert isinstance(yd, cuda.Array)
        np.testing.assert_array_equal(yd.numpy(), y)
        g = rng.integers(-2, 3, y.shape).astype(np.float32)
        want = F.conv2d_backward(g, x, w, *args)
        got = F.conv2d_backward(_dev(g), _dev(x), _dev(w), *args)
        for gv, wv in zip(got, want):
            np.testing.assert_array_equal(gv.numpy(), wv)
    # conv1d: conv2d with H = 1
    x = rng.integers(-2, 3, (3, 2, 17)).astype(np.float32)
    w = rng.integers(-2, 3, (4, 2, 5)).astype(np.float32)
    np.testing.assert_array_equal(F.conv1d(_dev(x), _dev(w), None, 3, 2).numpy(), F.conv1d(x, w, None, 3, 2))
    g = rng.integers(-2, 3, F.conv1d(x, w, None, 3, 2).shape).astype(np.float32)
    for gv, wv in zip(F.conv1d_backward(_dev(g), _dev(x), _dev(w), 3, 2), F.conv1d_backward(g, x, w, 3, 2)):
        np.testing.assert_array_equal(gv.numpy(), wv)
    # conv_transpose2d through the same kernels, with output_padding and groups
    x = rng.integers(-2, 3, (2, 4, 4, 5)).astype(np.float32)
    w = rng.integers(-2, 3, (4, 3, 3, 3)).astype(np.float32)
    b = rng.integers(-2, 3, 6).astype(np.float32)
    args = (2, 1, 1, 2, 1)  # stride, padding, output_padding, groups, dilation
    y = F.conv_transpose2d(x, w, b, *args)
    np.testing.assert_array_equal(F.conv_transpose2d(_dev(x), _dev(w), _dev(b), *args).numpy(), y)
    g = rng.integers(-2, 3, y.shape).astype(np.float32)
    for gv, wv in zip(F.conv_transpose2d_backward(_dev(g), _dev(x), _dev(w), *args),
                      F.conv_transpose2d_backward(g, x, w, *args)):
        np.testing.assert_array_equal(gv.numpy(), wv)
    # out= and errors with the CPU path's messages
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    out = cuda.empty((2, 4, 6, 6))
    assert F.conv2d(_dev(x), _dev(w), out=out) is out
    assert_close(out.numpy(), F.conv2d(x, w), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="weight: expected shape"):
        F.conv2d(_dev(x), _dev(np.ones((4, 2, 3, 3), np.float32)))
    with pytest.raises(ValueError, match="groups"):
        F.conv2d(_dev(x), _dev(w), groups=2)
    with pytest.raises(ValueError, match="grad_out: expected shape"):
        F.conv2d_backward_input(_dev(np.ones((2, 4, 5, 5), np.float32)), _dev(w), x.shape)


POOL_CASES = [  # (shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 7, 9), 2, 2, 0, 1, False),
    ((2, 2, 7, 7), 3, 2, 1, 1, True),
    ((1, 2, 8, 6), (3, 2), (1, 2), 1, (2, 1), False),
    ((3, 5, 5), 5, 1, 0, 1, False),  # unbatched
]


def check_pool(rng):
    for shape, k, s, p, d, ceil in POOL_CASES:
        x = rng.integers(-4, 5, shape).astype(np.float32)
        y, idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
        yd, idxd = F.max_pool2d(_dev(x), k, s, p, d, ceil, return_indices=True)
        np.testing.assert_array_equal(yd.numpy(), y)
        assert idxd.dtype == np.int64
        np.testing.assert_array_equal(idxd.numpy(), idx)
        g = rng.integers(-3, 4, y.shape).astype(np.float32)
        np.testing.assert_array_equal(F.max_pool2d_backward(_dev(g), idxd, x.shape).numpy(),
                                      F.max_pool2d_backward(g, idx, x.shape))
        if d != 1:
            continue
        for cip in (True, False):
            y = F.avg_pool2d(x, k, s, p, ceil, cip)
            assert_close(F.avg_pool2d(_dev(x), k, s, p, ceil, cip).numpy(), y, rtol=1e-6, atol=1e-6)
            g = rng.standard_normal(y.shape).astype(np.float32)
            assert_close(F.avg_pool2d_backward(_dev(g), x.shape, k, s, p, ceil, cip).numpy(),
                         F.avg_pool2d_backward(g, x.shape, k, s, p, ceil, cip), rtol=1e-6, atol=1e-6)
    x = rng.standard_normal((2, 3, 17)).astype(np.float32)
    np.testing.assert_array_equal(F.max_pool1d(_dev(x), 3, 2, 1).numpy(), F.max_pool1d(x, 3, 2, 1))
    assert_close(F.avg_pool1d(_dev(x), 4, 3, 2, True, False).numpy(), F.avg_pool1d(x, 4, 3, 2, True, False),
                 rtol=1e-6, atol=1e-6)
    x = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)
    for size in ((3, 4), 1, (9, 2)):
        y = F.adaptive_avg_pool2d(x, size)
        assert_close(F.adaptive_avg_pool2d(_dev(x), size).numpy(), y, rtol=1e-6, atol=1e-6)
        g = rng.standard_normal(y.shape).astype(np.float32)
        assert_close(F.adaptive_avg_pool2d_backward(_dev(g), x.shape).numpy(),
                     F.adaptive_avg_pool2d_backward(g, x.shape), rtol=1e-6, atol=1e-6)
    assert_close(F.global_avg_pool2d(_dev(x), keepdim=False).numpy(), F.global_avg_pool2d(x, keepdim=False),
                 rtol=1e-6, atol=1e-6)
    g = rng.standard_normal((2, 3)).astype(np.float32)
    assert_close(F.global_avg_pool2d_backward(_dev(g), x.shape).numpy(), F.global_avg_pool2d_backward(g, x.shape),
                 rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="padding: should be at most half"):
        F.max_pool2d(_dev(x), 2, padding=2)
    with pytest.raises(TypeError, match="indices: expected an int64"):
        F.max_pool2d_backward(_dev(g.reshape(2, 3, 1, 1)), _dev(g.reshape(2, 3, 1, 1)), x.shape)


def check_norm(rng):
    for shape in ((6, 3), (4, 5, 9), (2, 3, 5, 4)):
        C = shape[1]
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        w = rng.standard_normal(C).astype(np.float32)
        b = rng.standard_normal(C).astype(np.float32)
        rm, rv = rng.standard_normal(C).astype(np.float32), np.full(C, 1.5, np.float32)
        rmd, rvd = _dev(rm), _dev(rv)
        for training in (True, False):
            y, mean, inv = F.batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5, return_stats=True)
            yd, meand, invd = F.batch_norm(_dev(x), rmd, rvd, _dev(w), _dev(b), training, 0.1, 1e-5,
                                           return_stats=True)
            assert_close(yd.numpy(), y, rtol=1e-5, atol=1e-5)
            assert_close(meand.numpy(), mean, rtol=1e-6, atol=1e-6)
            assert_close(invd.numpy(), inv, rtol=1e-6, atol=1e-6)
            assert_close(rmd.numpy(), rm, rtol=1e-6, atol=1e-6)  # running stats updated in place alike
            assert_close(rvd.numpy(), rv, rtol=1e-6, atol=1e-6)
            g = rng.standard_normal(shape).astype(np.float32)
            want = F.batch_norm_backward(g, x, w, rm, rv, training, 1e-5)
            got = F.batch_norm_backward(_dev(g), _dev(x), _dev(w), rmd, rvd, training, 1e-5)
            for gv, wv in zip(got, want):
                assert_close(gv.numpy(), wv, rtol=1e-4, atol=1e-5)
        got = F.batch_norm_backward(_dev(g), _dev(x), None, save_mean=meand, save_invstd=invd)
        want = F.batch_norm_backward(g, x, None, save_mean=mean, save_invstd=inv)
        assert_close(got[0].numpy(), want[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="running_mean, running_var: required"):
        F.batch_norm(_dev(x), None, None)
    with pytest.raises(ValueError, match="weight: expected shape"):
        F.batch_norm(_dev(x), None, None, _dev(np.ones(4, np.float32)), training=True)
    with pytest.raises(TypeError, match="running_mean"):
        F.batch_norm(_dev(x), cuda.empty((3,), dtype=np.float64), rvd, training=True)


def _params(rng, shapes, device):
    ps = []
    for s in shapes:
        p = nn.Parameter(rng.standard_normal(s).astype(np.float32))
        if device:
            p.data = _dev(p.data)
        ps.append(p)
    return ps


def check_optim(rng):
    shapes = [(5, 7), (7,), (3, 2, 3, 3)]
    makers = [lambda ps: optim.SGD(ps, lr=0.1),
              lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2),
              lambda ps: optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3),
              lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-3),
              lambda ps: optim.Adam(ps, lr=1e-2),
              lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-2, amsgrad=True),
              lambda ps: optim.AdamW(ps, lr=1e-2),
              lambda ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.1, amsgrad=True)]
    for make in makers:
        seed = int(rng.integers(1 << 30))
        cpu = _params(np.random.default_rng(seed), shapes, False)
        gpu = _params(np.random.default_rng(seed), shapes, True)
        oc, og = make(cpu), make(gpu)
        for _ in range(4):
            for pc, pg in zip(cpu, gpu):
                g = rng.standard_normal(pc.data.shape).astype(np.float32)
                pc.grad, pg.grad = g, _dev(g)
            oc.step()
            og.step()
        for pc, pg in zip(cpu, gpu):
            assert isinstance(pg.data, cuda.Array)
            np.testing.assert_allclose(pg.data.numpy(), pc.data, rtol=1e-6, atol=1e-7)
        for pc, pg in zip(cpu, gpu):
            for k, v in oc.state[pc].items():
                vg = og.state[pg][k]
                if isinstance(v, np.ndarray):
                    np.testing.assert_allclose(vg.numpy(), v, rtol=1e-6, atol=1e-7)
                else:
                    assert vg == v
        # state_dict holds host copies; loaded into a fresh device optimizer, the steps continue alike
        sd = og.state_dict()
        assert all(isinstance(v, (np.ndarray, int, float)) for st in sd["state"].values() for v in st.values())
        og2 = make(gpu)
        og2.load_state_dict(sd)
        for pc, pg in zip(cpu, gpu):
            g = rng.standard_normal(pc.data.shape).astype(np.float32)
            pc.grad, pg.grad = g, _dev(g)
        oc.step()
        og2.step()
        for pc, pg in zip(cpu, gpu):
            np.testing.assert_allclose(pg.data.numpy(), pc.data, rtol=1e-6, atol=1e-7)


def _mlp(seed):
    import fastlayers
    fastlayers.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 6), nn.Tanh(), nn.Maxout(6, 3), nn.Linear(3, 2))


def check_module_to(rng):
    cpu, gpu = _mlp(7), _mlp(7).to("cuda")
    assert all(isinstance(p.data, cuda.Array) for p in gpu.parameters())
    x = rng.standard_normal((4, 5)).astype(np.float32)
    oc, og = optim.Adam(cpu.parameters(), lr=1e-2), optim.Adam(gpu.parameters(), lr=1e-2)
    for _ in range(3):
        y = cpu(x)
        yd = gpu(_dev(x))
        assert isinstance(yd, cuda.Array)
        assert_close(yd.numpy(), y, rtol=1e-5, atol=1e-6)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        for _ in range(2):  # twice: the second backward accumulates into the grads
            dx = cpu.backward(dy)
            dxd = gpu.backward(_dev(dy))
        assert_close(dxd.numpy(), dx, rtol=1e-5, atol=1e-6)
        for (k, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
            assert_close(pg.grad.numpy(), pc.grad, rtol=1e-5, atol=1e-6)
        oc.step()
        og.step()
        cpu.zero_grad()
        gpu.zero_grad()
    sd = gpu.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    for k, v in cpu.state_dict().items():
        assert_close(sd[k], v, rtol=1e-5, atol=1e-6)
    p = nn.Parameter(np.zeros((2, 3), np.float32))
    p.data = _dev(p.data)
    p.accumulate(_dev(np.ones((2, 3), np.float32)))
    p.accumulate(_dev(np.arange(6, dtype=np.float32).reshape(2, 3)))
    np.testing.assert_array_equal(p.grad.numpy(), 1 + np.arange(6, dtype=np.float32).reshape(2, 3))
    gpu.zero_grad(set_to_none=False)  # grads are None after the loop: a no-op
    gpu(_dev(x))
    gpu.backward(_dev(np.ones((4, 2), np.float32)))
    gpu.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in gpu.parameters())
    other = _mlp(8).to("cuda")
    other.load_state_dict(sd)
    assert_close(other(_dev(x)).numpy(), cpu(x), rtol=1e-5, atol=1e-6)
    back = other.to("cpu")
    assert back is other and all(isinstance(p.data, np.ndarray) for p in back.parameters())
    assert_close(back(x), cpu(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="device"):
        other.to("cuda:x")
    with pytest.raises(ValueError, match="expected input of shape"):
        gpu(_dev(np.ones((2, 4), np.float32)))


# ---- on the host stand-in (any machine) -----------------------------------------------------------

class LayerCore(FakeCore):
    """FakeCore plus the layer entry points: the CPU kernels on host buffers."""

    @staticmethod
    def _arr(mem, n, dtype=np.float32):
        return mem.buf[:n * np.dtype(dtype).itemsize].view(dtype)

    def cuda_sgd_update(self, p, buf, g, n, lr, momentum, dampening, wd, nesterov, first):
        _core.sgd_step([p.f32(n)], [g.f32(n).copy()], [None if buf is None else buf.f32(n)], [first], lr, momentum,
                       dampening, wd, nesterov)

    def cuda_adam_update(self, p, m, v, vmax, g, n, step, lr, b1, b2, eps, wd, decoupled):
        _core.adam_step([p.f32(n)], [g.f32(n).copy()], [m.f32(n)], [v.f32(n)], [None if vmax is None else vmax.f32(n)],
                        [step], lr, b1, b2, eps, wd, decoupled)

    def cuda_max_pool2d_forward(self, y, idx, x, planes, shape):
        H, W, P, Q = shape[:4]
        _core.max_pool2d_forward(y.f32(planes * P * Q), None if idx is None else self._arr(idx, planes * P * Q,
                                                                                          np.int64),
                                 x.f32(planes * H * W).copy(), planes, shape)

    def cuda_max_pool2d_backward(self, dx, dy, idx, planes, shape):
        H, W, P, Q = shape[:4]
        _core.max_pool2d_backward(dx.f32(planes * H * W), dy.f32(planes * P * Q).copy(),
                                  self._arr(idx, planes * P * Q, np.int64).copy(), planes, shape)

    def cuda_avg_pool2d(self, out, inp, planes, shape, kind, backward, cip, div):
        H, W, P, Q = shape[:4]
        nx, ny = planes * H * W, planes * P * Q
        o, i = (out.f32(nx), inp.f32(ny).copy()) if backward else (out.f32(ny), inp.f32(nx).copy())
        if kind == 1:
            fn = _core.adaptive_avg_pool2d_backward if backward else _core.adaptive_avg_pool2d_forward
            fn(o, i, planes, shape)
        else:
            fn = _core.avg_pool2d_backward if backward else _core.avg_pool2d_forward
            fn(o, i, planes, shape, cip, div)

    def cuda_batch_norm_forward(self, y, mean, inv, rm, rv, x, w, b, N, C, L, training, momentum, eps):
        f = lambda m: None if m is None else m.f32(C)  # noqa: E731
        _core.batch_norm_forward(y.f32(N * C * L), mean.f32(C), inv.f32(C), f(rm), f(rv), x.f32(N * C * L).copy(),
                                 f(w), f(b), N, C, L, training, momentum, eps)

    def cuda_batch_norm_stats(self, mean, inv, x, N, C, L, eps):
        _core.batch_norm_stats(mean.f32(C), inv.f32(C), x.f32(N * C * L).copy(), N, C, L, eps)

    def cuda_batch_norm_backward(self, dx, dw, db, dy, x, w, mean, inv, N, C, L, training):
        _core.batch_norm_backward(dx.f32(N * C * L), dw.f32(C), db.f32(C), dy.f32(N * C * L).copy(),
                                  x.f32(N * C * L).copy(), None if w is None else w.f32(C), mean.f32(C),
                                  inv.f32(C), N, C, L, training)

    @staticmethod
    def _sizes(a):
        N, C, H, W, K, R, S, P, Q = a[:9]
        return N * C * H * W, N * K * P * Q, K * (C // a[15]) * R * S

    def cuda_conv2d_forward(self, y, x, w, bias, a):
        nx, ny, nw = self._sizes(a)
        _core.conv2d_forward(y.f32(ny), x.f32(nx).copy(), w.f32(nw).copy(),
                             None if bias is None else bias.f32(a[4]).copy(), a)

    def cuda_conv2d_backward_input(self, dx, dy, w, bias, a):
        nx, ny, nw = self._sizes(a)
        _core.conv2d_backward_input(dx.f32(nx), dy.f32(ny).copy(), w.f32(nw).copy(),
                                    None if bias is None else bias.f32(a[1]).copy(), a)

    def cuda_conv2d_backward_weight(self, dw, dy, x, a):
        nx, ny, nw = self._sizes(a)
        _core.conv2d_backward_weight(dw.f32(nw), dy.f32(ny).copy(), x.f32(nx).copy(), a)

    def cuda_conv_bias_backward(self, db, t, N, K, L):
        _core.conv_bias_backward(db.f32(K), t.f32(N * K * L).copy(), N, K, L)


@pytest.fixture
def stand_in(monkeypatch):
    core = LayerCore()
    for mod in (cuda, _cuda_activation, _cuda_conv, _cuda_pool, _cuda_norm, _cuda_optim):
        monkeypatch.setattr(mod, "_core", core)
    monkeypatch.setattr(cuda, "_usable_count", 0)
    return core


def test_conv_glue(stand_in, rng):
    check_conv(rng)


def test_pool_glue(stand_in, rng):
    check_pool(rng)


def test_norm_glue(stand_in, rng):
    check_norm(rng)


def test_optim_glue(stand_in, rng):
    check_optim(rng)


def test_module_to_glue(stand_in, rng):
    check_module_to(rng)


def test_stand_in_memory_is_host(stand_in):
    assert isinstance(cuda.empty((2,))._mem, HostMem)


# ---- on a GPU: the real kernels -------------------------------------------------------------------

@pytest.mark.cuda
def test_conv_gpu(rng):
    check_conv(rng)


@pytest.mark.cuda
def test_pool_gpu(rng):
    check_pool(rng)


@pytest.mark.cuda
def test_norm_gpu(rng):
    check_norm(rng)


@pytest.mark.cuda
def test_optim_gpu(rng):
    check_optim(rng)


@pytest.mark.cuda
def test_module_to_gpu(rng):
    check_module_to(rng)


@pytest.mark.cuda
def test_conv_gpu_random_larger(rng):
    """Float data over several tiles and reduction splits, against the CPU kernels."""
    x = rng.standard_normal((4, 16, 30, 30)).astype(np.float32)
    w = rng.standard_normal((70, 16, 3, 3)).astype(np.float32)
    y = F.conv2d(x, w, None, 1, 1)
    assert_close(F.conv2d(_dev(x), _dev(w), None, 1, 1).numpy(), y, rtol=1e-4, atol=1e-4)
    g = rng.standard_normal(y.shape).astype(np.float32)
    for gv, wv in zip(F.conv2d_backward(_dev(g), _dev(x), _dev(w), 1, 1), F.conv2d_backward(g, x, w, 1, 1)):
        assert_close(gv.numpy(), wv, rtol=1e-3, atol=1e-3)


def test_bench_cases_run(stand_in, monkeypatch):
    """The CNN CUDA benchmark module builds and runs its cases (on the stand-in, tiny shapes)."""
    from fastlayers._bench import cuda_conv as bench
    monkeypatch.setattr(bench, "_core", stand_in)  # _kernel_ms times on the stand-in
    monkeypatch.setattr(stand_in, "cuda_time_ms", lambda fn, repeat, device: [fn() for _ in range(repeat)] and 2.0,
                        raising=False)
    conv = [("tiny", (2, 3, 6, 6), (4, 3, 3, 3), 1, 1), ("tiny dw", (2, 4, 5, 5), (4, 1, 3, 3), 1, 4)]
    monkeypatch.setattr(bench, "_specs", lambda quick: (conv, (2, 3, 4, 4), (2, 3, 4, 4)))
    monkeypatch.setattr(bench, "_torch_cuda", lambda: None)
    cases = bench.cases(True)
    assert [c.op for c in cases] == ["cuda conv2d tiny", "cuda conv2d+bwd tiny", "cuda conv2d tiny dw",
                                     "cuda conv2d+bwd tiny dw", "cuda max_pool2d 2x2", "cuda batch_norm train"]
    assert cases[0].flops == 2.0 * 2 * 4 * 6 * 6 * 3 * 9 and cases[1].flops == 3 * cases[0].flops
    for c in cases:
        c.ours()
    lines = []
    rows = bench.event_table(True, echo=lines.append)
    assert len(rows) == 4 and len(lines) == 5 and all(r["kernel_ms"] == 2.0 for r in rows)
