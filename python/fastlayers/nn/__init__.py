"""Layers that train: modules with an explicit backward, losses, initialisation.

One training step reads::

    opt.zero_grad(); loss = crit(model(x), y); model.backward(crit.backward()); opt.step()

One file per family: module.py (Parameter, Module, Sequential, Identity, Flatten),
linear.py (Linear, Maxout), activation.py, dropout.py, loss.py, init.py, utils.py.
"""
from . import init, utils
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .dropout import Dropout
from .linear import Linear, Maxout
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Flatten, Identity, Module, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d, InstanceNorm2d
from .pool import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .resample import (CircularPad1d, CircularPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d, ReflectionPad2d,
                       ReplicationPad1d, ReplicationPad2d, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d,
                       ZeroPad1d, ZeroPad2d)

__all__ = [
    "Parameter", "Module", "Sequential", "Identity", "Flatten", "Linear", "Maxout",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Softmax", "LogSoftmax", "Dropout",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss", "init", "utils",
    "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "InstanceNorm1d", "InstanceNorm2d", "GroupNorm",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "ReflectionPad1d", "ReflectionPad2d",
    "ReplicationPad1d", "ReplicationPad2d", "CircularPad1d", "CircularPad2d", "ConstantPad1d", "ConstantPad2d",
    "ZeroPad1d", "ZeroPad2d",
]
