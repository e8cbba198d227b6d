"""Parameter initialisation as torch.nn.init does it, drawing from fastlayers' generator
(fastlayers.manual_seed makes it repeatable). Each function fills an array in place."""
from __future__ import annotations

import math

import numpy as np

from .._random import default_generator

__all__ = ["calculate_gain", "fan_in_out", "uniform_", "zeros_", "ones_", "xavier_uniform_", "kaiming_uniform_"]


def calculate_gain(nonlinearity: str, param=None) -> float:
    if nonlinearity in ("linear", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    raise ValueError(f"nonlinearity: unsupported {nonlinearity!r}")


def fan_in_out(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: (out, in, *kernel) as PyTorch lays weights out."""
    if len(shape) < 2:
        raise ValueError(f"fan_in_out: needs a weight of at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform_(arr: np.ndarray, a: float = 0.0, b: float = 1.0) -> np.ndarray:
    arr[...] = default_generator().uniform(a, b, size=arr.shape)
    return arr


def kaiming_uniform_(arr: np.ndarray, a: float = 0.0, nonlinearity: str = "leaky_relu") -> np.ndarray:
    """U(-bound, bound), bound = gain * sqrt(3 / fan_in). Linear and Conv use a = sqrt(5),
    which gives bound = 1 / sqrt(fan_in)."""
    fan_in, _ = fan_in_out(arr.shape)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan_in) if fan_in else 0.0
    return uniform_(arr, -bound, bound)


def xavier_uniform_(arr: np.ndarray, gain: float = 1.0) -> np.ndarray:
    fan_in, fan_out = fan_in_out(arr.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(arr, -bound, bound)


def zeros_(arr: np.ndarray) -> np.ndarray:
    arr[...] = 0.0
    return arr


def ones_(arr: np.ndarray) -> np.ndarray:
    arr[...] = 1.0
    return arr


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
