"""Layers that train: modules with an explicit backward, losses, initialisation.

One training step reads::

    opt.zero_grad(); loss = crit(model(x), y); model.backward(crit.backward()); opt.step()

One file per family: module.py (Parameter, Module, Sequential, Identity, Flatten),
linear.py (Linear, Maxout), embedding.py, position.py, layer_norm.py, attention.py (MultiheadAttention),
transformer.py, rnn.py (RNN, LSTM, GRU and the cells), activation.py,
dropout.py, loss.py, init.py, utils.py.
"""
from . import init, utils
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .dropout import Dropout
from .embedding import Embedding
from .linear import Linear, Maxout
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Flatten, Identity, Module, ModuleList, Parameter, Sequential
from .layer_norm import LayerNorm
from .position import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from .attention import MultiheadAttention
from .transformer import TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d, InstanceNorm2d
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
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
    "Embedding", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "ModuleList", "LayerNorm", "LearnedPositionalEmbedding", "SinusoidalPositionalEncoding", "MultiheadAttention",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder",
]


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
