"""CNN: a LeNet-style convolutional classifier assembled from fastlayers.nn.

Blocks of Conv2d (3x3 or the given kernel, 'same' padding) -> [BatchNorm2d] -> ReLU ->
MaxPool2d(2), then Flatten -> Linear -> ReLU -> Linear. The layer list is a Sequential, so
state_dict keys are those of the equivalent torch.nn.Sequential (0.weight, 0.bias,
1.running_mean, ...). ``CNN(1, 8)`` suits the 8x8 digits, ``CNN(1, 28)`` MNIST-sized input.
"""
from __future__ import annotations

from ..nn import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from .mlp import MLP


class CNN(Sequential):
    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10, channels=(16, 32),
                 kernel_size: int = 3, hidden: int = 64, batch_norm: bool = True):
        channels = (channels,) if isinstance(channels, int) else tuple(channels)
        size = int(image_size)
        if size >> len(channels) < 1:
            raise ValueError(f"image_size: {image_size} is too small for {len(channels)} pooling stages "
                             f"(each halves it)")
        layers, width = [], in_channels
        for c in channels:
            layers.append(Conv2d(width, c, kernel_size, padding="same", bias=not batch_norm))
            if batch_norm:
                layers.append(BatchNorm2d(c))
            layers += [ReLU(), MaxPool2d(2)]
            width, size = c, size // 2
        layers += [Flatten(), Linear(width * size * size, hidden), ReLU(), Linear(hidden, num_classes)]
        super().__init__(*layers)
        self.in_channels, self.image_size, self.num_classes = in_channels, int(image_size), num_classes
        self.channels, self.kernel_size, self.hidden, self.batch_norm = channels, kernel_size, hidden, batch_norm

    predict = MLP.predict  # class indices argmax(model(x)) in eval mode, as MLP's
