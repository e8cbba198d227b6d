"""Functional ops: NumPy arrays in, NumPy arrays out, PyTorch's names and arguments.

Each op has a forward ``op(x, ...)`` and a backward ``op_backward(grad_out, saved, ...)``,
both taking ``out=`` to write into an existing array.
"""
from .activation import (elu, elu_backward, gelu, gelu_backward, leaky_relu, leaky_relu_backward,
                         log_softmax, log_softmax_backward, maxout, maxout_backward, relu, relu_backward,
                         sigmoid, sigmoid_backward, silu, silu_backward, softmax, softmax_backward, tanh,
                         tanh_backward)
from .conv import (conv1d, conv1d_backward, conv1d_backward_bias, conv1d_backward_input, conv1d_backward_weight,
                   conv2d, conv2d_backward, conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weight,
                   conv_transpose2d, conv_transpose2d_backward, conv_transpose2d_backward_input,
                   conv_transpose2d_backward_weight)
from .norm import (batch_norm, batch_norm_backward, group_norm, group_norm_backward, instance_norm,
                   instance_norm_backward)
from .pool import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward, avg_pool1d, avg_pool1d_backward, avg_pool2d,
                   avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward, max_pool1d,
                   max_pool1d_backward, max_pool2d, max_pool2d_backward)
from .gemm import linear, linear_backward, matmul
from .dropout import dropout, dropout_backward
from .resample import interpolate, interpolate_backward, pad, pad_backward
from .loss import (binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_backward, cross_entropy,
                   cross_entropy_backward, cross_entropy_forward, mse_loss, mse_loss_backward, nll_loss,
                   nll_loss_backward)

__all__ = [
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "relu", "relu_backward",
    "leaky_relu", "leaky_relu_backward", "elu", "elu_backward", "gelu", "gelu_backward", "silu", "silu_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward", "maxout", "maxout_backward",
    "max_pool1d", "max_pool1d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool1d", "avg_pool1d_backward",
    "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "global_avg_pool2d", "global_avg_pool2d_backward", "batch_norm", "batch_norm_backward",
    "group_norm", "group_norm_backward", "instance_norm", "instance_norm_backward",
    "matmul", "linear", "linear_backward",
    "conv1d", "conv1d_backward", "conv1d_backward_bias", "conv1d_backward_input", "conv1d_backward_weight",
    "conv2d", "conv2d_backward", "conv2d_backward_bias", "conv2d_backward_input", "conv2d_backward_weight",
    "conv_transpose2d", "conv_transpose2d_backward", "conv_transpose2d_backward_input",
    "conv_transpose2d_backward_weight",
    "dropout", "dropout_backward", "interpolate", "interpolate_backward", "pad", "pad_backward",
    "cross_entropy", "cross_entropy_forward", "cross_entropy_backward", "nll_loss", "nll_loss_backward",
    "mse_loss", "mse_loss_backward", "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
]
