"""CNN: a LeNet-style network, conv stages (Conv2d, optional BatchNorm2d, activation, 2x2
pooling) then a classifier (Flatten, Linear + activation (+ Dropout) per hidden width, Linear).

The layer list is a Sequential, so state_dict keys are those of the equivalent
torch.nn.Sequential of the same flat layer list; ``CNN.to_torch()`` builds that model.
LeNet-5 on 28x28 (conv 6@5x5 pad 2, pool, conv 16@5x5, pool, 120, 84, 10) reads::

    CNN(1, 10, 28, channels=(6, 16), kernel_size=5, padding=(2, 0), hidden=(120, 84))

is ``Sequential(Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten, Linear, ReLU,
Linear, ReLU, Linear)`` with keys 0.weight, 0.bias, 3.weight, ... With batch_norm=True a
BatchNorm2d follows each convolution and the convolutions have no bias (the norm's shift
replaces it).
"""
from __future__ import annotations

import numpy as np

from ..nn import (AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, Sequential)
from .mlp import ACTIVATIONS, MLP

CONV_ACTIVATIONS = sorted(k for k, v in ACTIVATIONS.items() if v is not None)
POOLS = {"max": MaxPool2d, "avg": AvgPool2d, "none": None}


def _pair(v, name: str) -> tuple:
    t = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else tuple(v)
    if len(t) != 2 or any(isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < 1 for e in t):
        raise ValueError(f"{name}: expected a positive int or a pair of them, got {v!r}")
    return int(t[0]), int(t[1])


def _paddings(padding, n: int, kernel: tuple) -> list:
    """Per-stage (pad_h, pad_w): 'same' (odd kernels), 'valid', an int, or a list of those per stage."""
    per = list(padding) if isinstance(padding, (list, tuple)) else [padding] * n
    if len(per) != n:
        raise ValueError(f"padding: expected one value or {n} (one per conv stage), got {padding!r}")
    out = []
    for p in per:
        if p == "same":
            if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
                raise ValueError(f"padding='same' needs an odd kernel_size, got {kernel}")
            out.append((kernel[0] // 2, kernel[1] // 2))
        elif p == "valid":
            out.append((0, 0))
        elif isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0:
            out.append((int(p), int(p)))
        else:
            raise ValueError(f"padding: expected 'same', 'valid' or a non-negative int per stage, got {p!r}")
    return out


class CNN(Sequential):
    """LeNet-style classifier over (N, in_channels, H, W) images. input_size: H or (H, W);
    kernel_size: k or (kh, kw); padding: 'same' (odd kernels), 'valid' or an int, or a tuple of
    those with one entry per conv stage; pool: 'max', 'avg' or 'none' (2x2, stride 2)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size=28, channels=(6, 16),
                 kernel_size=5, padding="same", pool: str = "max", activation: str = "relu",
                 batch_norm: bool = False, hidden=(120, 84), dropout: float = 0.0):
        if activation not in CONV_ACTIVATIONS:
            raise ValueError(f"activation: expected one of {CONV_ACTIVATIONS}, got {activation!r}")
        if pool not in POOLS:
            raise ValueError(f"pool: expected one of {sorted(POOLS)}, got {pool!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        channels = (channels,) if isinstance(channels, int) else tuple(channels)
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        if not channels:
            raise ValueError("channels: expected at least one conv stage, got ()")
        size = _pair(input_size, "input_size")
        kernel = _pair(kernel_size, "kernel_size")
        act = ACTIVATIONS[activation]
        layers, c, (h, w) = [], in_channels, size
        for i, (k, pad) in enumerate(zip(channels, _paddings(padding, len(channels), kernel))):
            layers.append(Conv2d(c, k, kernel, padding=pad, bias=not batch_norm))
            h, w = h + 2 * pad[0] - kernel[0] + 1, w + 2 * pad[1] - kernel[1] + 1
            if batch_norm:
                layers.append(BatchNorm2d(k))
            layers.append(act())
            if POOLS[pool] is not None:
                layers.append(POOLS[pool](2))
                h, w = h // 2, w // 2
            if h < 1 or w < 1:
                raise ValueError(f"input_size {size} is too small: conv stage {i} (kernel {kernel}, padding {pad}"
                                 f"{', 2x2 pool' if POOLS[pool] else ''}) leaves a {max(h, 0)}x{max(w, 0)} map")
            c = k
        layers.append(Flatten())
        width = c * h * w
        for n in hidden:
            layers += [Linear(width, n), act()]
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = n
        layers.append(Linear(width, num_classes))
        super().__init__(*layers)
        self.in_channels, self.num_classes, self.input_size = in_channels, num_classes, size
        self.channels, self.kernel_size, self.hidden = channels, kernel, hidden
        self.pool, self.activation, self.batch_norm, self.dropout = pool, activation, bool(batch_norm), float(dropout)
        self.feature_shape = (c, h, w)  # what the last conv stage hands to the classifier

    def forward(self, x):
        shape = np.shape(x)
        want = (self.in_channels,) + self.input_size
        if len(shape) != 4 or tuple(shape[1:]) != want:
            raise ValueError(f"CNN: expected input of shape (N, {', '.join(map(str, want))}) "
                             f"(in_channels={self.in_channels}, input_size={self.input_size}), got {tuple(shape)}")
        return super().forward(x)

    predict = MLP.predict  # class indices in eval mode, batched (the same code for every classifier)

    def to_torch(self):
        """The equivalent torch.nn.Sequential with a copy of this model's state (needs PyTorch)."""
        try:
            import torch
        except ImportError as exc:
            raise ImportError("CNN.to_torch needs PyTorch: pip install torch") from exc
        return _torch_sequential(torch, self)


def _torch_sequential(torch, model: Sequential):
    """torch.nn.Sequential mirroring the layer kinds and settings CNN builds, with model's state."""
    tnn, layers = torch.nn, []
    for m in model:
        name = type(m).__name__
        if isinstance(m, Conv2d):
            t = tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, bias=m.bias is not None)
        elif isinstance(m, Linear):
            t = tnn.Linear(m.in_features, m.out_features)
        elif isinstance(m, BatchNorm2d):
            t = tnn.BatchNorm2d(m.num_features, eps=m.eps, momentum=m.momentum)
        elif isinstance(m, (MaxPool2d, AvgPool2d)):
            t = getattr(tnn, name)(2)
        elif isinstance(m, Dropout):
            t = tnn.Dropout(m.p)
        elif isinstance(m, (Flatten, Identity)):
            t = getattr(tnn, name)()
        else:  # activations share their names
            t = getattr(tnn, name)()
        layers.append(t)
    seq = tnn.Sequential(*layers)
    seq.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    seq.train(model.training)
    return seq
