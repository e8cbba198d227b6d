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
from .._opdoc import op_table as _op_table
from .dropout import dropout, dropout_backward
from .resample import interpolate, interpolate_backward, pad, pad_backward
from .attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from .layer_norm import layer_norm, layer_norm_backward
from .embedding import embedding, embedding_backward
from .position import sinusoidal_position_encoding
from .rnn import (RnnCache, RnnCell, gru, gru_backward, gru_cell, gru_cell_backward, lstm, lstm_backward, lstm_cell,
                  lstm_cell_backward, rnn, rnn_backward, rnn_relu_cell, rnn_relu_cell_backward, rnn_tanh_cell,
                  rnn_tanh_cell_backward)
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
    "scaled_dot_product_attention", "scaled_dot_product_attention_backward", "layer_norm", "layer_norm_backward",
    "cross_entropy", "cross_entropy_forward", "cross_entropy_backward", "nll_loss", "nll_loss_backward",
    "mse_loss", "mse_loss_backward", "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "embedding", "embedding_backward", "sinusoidal_position_encoding",
    "RnnCache", "rnn", "rnn_backward", "lstm", "lstm_backward", "gru", "gru_backward",
    "rnn_tanh_cell", "rnn_tanh_cell_backward", "rnn_relu_cell", "rnn_relu_cell_backward",
    "lstm_cell", "lstm_cell_backward", "gru_cell", "gru_cell_backward",
]

__doc__ = (__doc__ or "") + _op_table(globals())


def __dir__():
    """dir() shows the public API only (__all__), not the helpers this module imports."""
    return sorted(__all__)
