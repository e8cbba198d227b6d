"""Test helpers: tolerance checks and finite-difference gradients in float64."""
from __future__ import annotations

import numpy as np
import pytest

from fastlayers import cuda

no_gpu = pytest.mark.skipif(cuda.is_available(), reason="checks the behaviour without a usable GPU")


def assert_close(actual, expected, rtol=1e-6, atol=1e-6, what=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def ulp_error(actual, expected) -> np.ndarray:
    """|actual - expected| in units of the float32 spacing at expected (finite values)."""
    expected = np.asarray(expected, dtype=np.float64)
    spacing = np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64)
    return np.abs(np.asarray(actual, dtype=np.float64) - expected) / spacing


def numeric_grad(f, x: np.ndarray, grad_out: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """d/dx sum(f(x) * grad_out) by central differences; f maps a float64 array to one."""
    x = x.astype(np.float64).copy()
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = np.sum(f(x) * grad_out)
        flat[i] = old - eps
        fm = np.sum(f(x) * grad_out)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


class FakeGpuArray:
    """Looks like a GPU array (CuPy-style __cuda_array_interface__) without any GPU behind it."""

    def __init__(self, shape=(4,)):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "data": (0x1000, False),
                                         "version": 3, "strides": None, "stream": 1}
