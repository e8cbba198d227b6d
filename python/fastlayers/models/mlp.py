"""MLP: Linear layers with an activation (and optional dropout) between them.

The layer list is a Sequential, so state_dict keys are those of the equivalent
torch.nn.Sequential: ``MLP(2, (8, 8), 2)`` is ``Sequential(Linear, ReLU, Linear, ReLU,
Linear)`` with keys 0.weight, 0.bias, 2.weight, ... (with dropout > 0 a Dropout follows each
activation, as in ``Sequential(Linear, ReLU, Dropout, ...)``). activation='maxout' uses
Maxout(…, pieces=2) units instead of Linear + activation.
"""
from __future__ import annotations

from ..nn import ELU, GELU, Dropout, LeakyReLU, Linear, Maxout, ReLU, Sequential, Sigmoid, Tanh

ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid, "elu": ELU,
               "gelu": GELU, "maxout": None}


class MLP(Sequential):
    def __init__(self, in_features: int, hidden=(64, 64), out_features: int = 2, activation: str = "relu",
                 dropout: float = 0.0):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}")
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        layers, width = [], in_features
        for h in hidden:
            if activation == "maxout":
                layers.append(Maxout(width, h, pieces=2))
            else:
                layers += [Linear(width, h), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = h
        layers.append(Linear(width, out_features))
        super().__init__(*layers)
        self.in_features, self.hidden, self.out_features = in_features, hidden, out_features
        self.activation, self.dropout = activation, float(dropout)

    def predict(self, x, batch_size: int = 4096):
        """Class indices argmax(model(x)), in eval mode (restores the previous mode)."""
        import numpy as np
        was = self.training
        self.eval()
        try:
            out = [self(x[i:i + batch_size]).argmax(axis=-1) for i in range(0, len(x), batch_size)]
        finally:
            self.train(was)
        return np.concatenate(out) if out else np.empty(0, np.int64)
