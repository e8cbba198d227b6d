"""U-Net (Ronneberger et al. 2015), small: per-pixel class logits for images whose sides are
multiples of 2**depth.

Encoder level i (i = 0 .. depth - 1): a block of two 3x3 Conv2d (padding 1) each followed by
BatchNorm2d and ReLU, width base * 2**i, then a 2x2 max pool; the bottleneck is one more such
block, width base * 2**depth. Decoder level i (deepest first): a 2x2 stride-2 ConvTranspose2d
halving the channels and doubling the size, the result concatenated after the encoder's
level-i output along the channels (torch.cat([skip, up], 1)), and a block back to
base * 2**i. A 1x1 Conv2d maps to num_classes logits: (N, in_channels, H, W) ->
(N, num_classes, H, W).

state_dict keys are those of the torch module with the same attributes: encoder.<i>.<j>.*,
bottleneck.<j>.*, up.<i>.*, decoder.<i>.<j>.*, head.* (encoder, up and decoder are
ModuleLists of Sequentials; up and decoder are indexed deepest first). backward(dL/dlogits)
runs the children's backward in reverse, adding each skip's gradient to its encoder level's.
"""
from __future__ import annotations

import numpy as np

from .._backend import operand
from ..nn import BatchNorm2d, Conv2d, ConvTranspose2d, MaxPool2d, Module, ModuleList, ReLU, Sequential


def _block(cin: int, cout: int, batch_norm: bool) -> Sequential:
    layers = []
    for c in (cin, cout):
        layers.append(Conv2d(c, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(BatchNorm2d(cout))
        layers.append(ReLU())
    return Sequential(*layers)


def _positive(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    return int(v)


class UNet(Module):
    """images (N, in_channels, H, W), H and W multiples of 2**depth -> logits (N, num_classes, H, W)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, base: int = 16, depth: int = 3,
                 batch_norm: bool = True):
        super().__init__()
        in_channels, num_classes = _positive(in_channels, "in_channels"), _positive(num_classes, "num_classes")
        base, depth = _positive(base, "base"), _positive(depth, "depth")
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.encoder = ModuleList(_block(c, w, batch_norm) for c, w in zip([in_channels] + widths[:-2], widths[:-1]))
        self.bottleneck = _block(widths[-2], widths[-1], batch_norm)
        self.up = ModuleList(ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth)))
        self.decoder = ModuleList(_block(2 * widths[i], widths[i], batch_norm) for i in reversed(range(depth)))
        self.head = Conv2d(base, num_classes, 1)
        self.in_channels, self.num_classes, self.base, self.depth = in_channels, num_classes, base, depth
        self.batch_norm = bool(batch_norm)
        self._pools = [MaxPool2d(2) for _ in range(depth)]  # one per level: each caches its own indices

    def forward(self, x):
        x = operand(x, "input")
        shape, m = tuple(x.shape), 2 ** self.depth
        if len(shape) != 4 or shape[1] != self.in_channels or shape[2] % m or shape[3] % m or not shape[2]:
            raise ValueError(f"UNet: expected input of shape (N, {self.in_channels}, H, W) with H and W positive "
                             f"multiples of {m}, got {shape}")
        skips = []
        for enc, pool in zip(self.encoder, self._pools):
            pool.train(self.training)
            x = enc(x)
            skips.append(x)
            x = pool(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.decoder, reversed(skips)):
            x = dec(np.concatenate([skip, up(x)], axis=1))
        self._skip_channels = [s.shape[1] for s in skips]
        return self.head(x)

    def backward(self, grad_out, need_input_grad: bool = True):
        """Accumulates every parameter's gradient; returns dL/dinput (None when not need_input_grad)."""
        g = self.head.backward(grad_out)
        skip_grads = []
        for up, dec, c in zip(reversed(list(self.up)), reversed(list(self.decoder)), self._skip_channels):
            g = dec.backward(g)  # shallowest level first: skip_grads[i] is encoder level i's
            skip_grads.append(g[:, :c])
            g = up.backward(np.ascontiguousarray(g[:, c:]))
        g = self.bottleneck.backward(g)
        for i in reversed(range(self.depth)):
            g = self._pools[i].backward(g) + skip_grads[i]
            g = self.encoder[i].backward(g, need_input_grad=need_input_grad or i > 0)
        return g

    def predict(self, x, batch_size: int = 64) -> np.ndarray:
        """Per-pixel argmax class (N, H, W), in eval mode (the previous mode is restored)."""
        was = self.training
        self.eval()
        try:
            out = [self(x[i:i + batch_size]).argmax(axis=1) for i in range(0, len(x), batch_size)]
        finally:
            self.train(was)
        return np.concatenate(out) if out else np.empty((0,) + tuple(np.shape(x)[2:]), np.int64)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, base={self.base}, "
                f"depth={self.depth}, batch_norm={self.batch_norm}")
