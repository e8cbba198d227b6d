"""The playground's parameters: their defaults and their validation.

``validate(raw)`` takes the JSON object the page sends (values may be strings, as typed into
a text field) and returns a complete, checked parameter dict, or raises ParamError naming the
field, what it expects and what it got; the server sends that message back as a JSON error.
"""
from __future__ import annotations

import math

DATASETS = ("circle", "xor", "gaussian", "spiral")
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "leaky_relu", "elu", "maxout")
REGULARIZATIONS = ("none", "l1", "l2")
OPTIMIZERS = ("sgd", "adam")
MAX_LAYERS, MAX_NEURONS = 6, 8
N_SAMPLES = 500

DEFAULTS = {
    "dataset": "circle", "noise": 0.2, "train_ratio": 0.5, "features": ["x1", "x2"],
    "layers": [4, 2], "activation": "tanh", "learning_rate": 0.03, "regularization": "none",
    "reg_rate": 0.0, "batch_size": 10, "optimizer": "adam", "seed": 0,
}


class ParamError(ValueError):
    """A bad parameter; ``field`` names it (the page highlights that control)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _number(raw, field: str, low: float, high: float, kind: str = "a number") -> float:
    """float(raw) (a number or a numeric string) within [low, high]."""
    bad = ParamError(field, f"expected {kind} from {low:g} to {high:g}, got {raw!r}")
    if isinstance(raw, bool):
        raise bad
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise bad from None
    if not (math.isfinite(v) and low <= v <= high):
        raise bad
    return v


def _integer(raw, field: str, low: int, high: int, kind: str = "a whole number") -> int:
    v = _number(raw, field, low, high, kind)
    if v != int(v):
        raise ParamError(field, f"expected {kind} from {low} to {high}, got {raw!r}")
    return int(v)


def _choice(raw, field: str, choices) -> str:
    if raw not in choices:
        raise ParamError(field, f"expected one of {', '.join(choices)}, got {raw!r}")
    return raw


def validate(raw) -> dict:
    """A complete parameter dict from ``raw`` (missing keys take DEFAULTS); ParamError if bad."""
    if not isinstance(raw, dict):
        raise ParamError("params", f"expected a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ParamError(unknown[0], f"unknown parameter (expected one of {', '.join(DEFAULTS)})")
    r = {**DEFAULTS, **raw}
    p = {
        "dataset": _choice("gaussian" if r["dataset"] == "gaussians" else r["dataset"], "dataset", DATASETS),
        "noise": _number(r["noise"], "noise", 0.0, 2.0),
        "train_ratio": _number(r["train_ratio"], "train_ratio", 0.1, 0.9),
        "activation": _choice(r["activation"], "activation", ACTIVATIONS),
        "learning_rate": _number(r["learning_rate"], "learning_rate", 1e-6, 10.0),
        "regularization": _choice(r["regularization"], "regularization", REGULARIZATIONS),
        "reg_rate": _number(r["reg_rate"], "reg_rate", 0.0, 10.0),
        "batch_size": _integer(r["batch_size"], "batch_size", 1, N_SAMPLES),
        "optimizer": _choice(r["optimizer"], "optimizer", OPTIMIZERS),
        "seed": _integer(r["seed"], "seed", 0, 2**31 - 1),
    }
    features = r["features"]
    if not isinstance(features, list) or not features:
        raise ParamError("features", f"expected a non-empty list of {', '.join(FEATURES)}, got {features!r}")
    for f in features:
        _choice(f, "features", FEATURES)
    p["features"] = [f for f in FEATURES if f in features]  # canonical order, no repeats
    layers = r["layers"]
    if not isinstance(layers, list):
        raise ParamError("layers", f"expected a list of neuron counts, got {layers!r}")
    if len(layers) > MAX_LAYERS:
        raise ParamError("layers", f"expected 0 to {MAX_LAYERS} hidden layers, got {len(layers)}")
    p["layers"] = [_integer(n, f"layers[{i}]", 1, MAX_NEURONS, "a neuron count") for i, n in enumerate(layers)]
    return p
