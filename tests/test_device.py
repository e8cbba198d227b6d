"""The device backend's contract on any machine: without a GPU every device entry point raises
RuntimeError saying why; every op is bound for both backends; mixing CPU and GPU arrays is a
TypeError naming the arguments. (The device paths' results are checked in each family's
tests through the `backend` fixture, and modules in tests/test_modules_device.py.)
"""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.functional as F
from fastlayers import _core, nn, optim

from helpers import FakeGpuArray, no_gpu


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


# Every op bound for both backends (bindings/backend.h): <op> on the CPU, cuda_<op> on the GPU.
BOTH_BACKENDS = ["act_forward", "act_backward", "softmax_forward", "softmax_backward", "maxout_forward",
                 "maxout_backward", "gemm", "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
                 "conv_bias_backward", "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                 "avg_pool2d_backward", "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
                 "batch_norm_forward", "batch_norm_stats", "batch_norm_backward", "sgd_step", "adam_step"]


@pytest.mark.parametrize("name", BOTH_BACKENDS)
def test_every_op_is_bound_for_both_backends(name):
    assert callable(getattr(_core, name)) and callable(getattr(_core, "cuda_" + name))
    if not _core.cuda_built:
        with pytest.raises((RuntimeError, TypeError)):
            getattr(_core, "cuda_" + name)()


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
