"""Transformer layers with torch.nn's constructors, submodule names and state_dicts:
TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder, TransformerDecoder.

Layer constructor (PyTorch's): d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu"
("relu", "gelu" or an activation module such as nn.GELU("tanh")), layer_norm_eps=1e-5,
batch_first=False, norm_first=False, bias=True. Children, as PyTorch names them: self_attn
(MultiheadAttention), multihead_attn (decoder), linear1 (d_model -> dim_feedforward), dropout,
linear2, norm1, norm2, norm3 (decoder), dropout1, dropout2, dropout3 (decoder); so keys read
``self_attn.in_proj_weight``, ``linear1.weight``, ``norm1.weight`` and a PyTorch state_dict loads
as is. norm_first=False is the original post-norm layer, x = norm1(x + sa(x)); norm_first=True
the pre-norm one, x = x + sa(norm1(x)).

Forward arguments and masks are PyTorch's (see MultiheadAttention for their convention:
True excludes); attention runs on the fused path (need_weights=False), with ReLU fused into
linear1's GEMM. backward returns the gradient of each array input in forward's order: the
encoder layer's d_src, the decoder layer's (d_tgt, d_memory); masks take none.
"""
from __future__ import annotations

import copy

from .._backend import operand
from . import _glue
from .activation import GELU, ReLU
from .attention import MultiheadAttention
from .dropout import Dropout
from .layer_norm import LayerNorm
from .linear import Linear, _features
from .module import Module, ModuleList, factory_device

_ACTIVATIONS = {"relu": ReLU, "gelu": GELU}


def _activation(activation) -> Module:
    if isinstance(activation, Module):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation: expected 'relu', 'gelu' or an activation module, got {activation!r}")
    return _ACTIVATIONS[activation]()


class _Layer(Module):
    """What both layers share: the feed-forward block and the self-attention block."""

    def _init_common(self, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                     norm_first, bias, norms: int) -> None:
        d_model = _features(d_model, "d_model")
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        if norms == 3:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first)
        self.linear1 = Linear(d_model, _features(dim_feedforward, "dim_feedforward"), bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = bool(norm_first)
        for i in range(1, norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        for i in range(1, norms + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation)
        self.batch_first = bool(batch_first)
        self._ff_dropout = getattr(self, f"dropout{norms}")

    def _ff(self, x):
        """dropout_last(linear2(dropout(activation(linear1(x)))))."""
        act = self.activation
        spec = act.fuse_spec() if hasattr(act, "fuse_spec") else None
        if spec is None:
            h = act(self.linear1(x))
        else:
            h = self.linear1.forward(x, activation=spec)
            act.save_fused_output(h)
        return self._ff_dropout(self.linear2(self.dropout(h)))

    def _ff_backward(self, g):
        g = self.linear2.backward(self._ff_dropout.backward(g))
        return self.linear1.backward(self.activation.backward(self.dropout.backward(g)))

    def _sa(self, x, mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False, attn_mask=mask,
                                is_causal=bool(is_causal))
        return self.dropout1(out)

    def _sa_backward(self, g):
        return self.self_attn._backward_summed(self.dropout1.backward(g))

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}, batch_first={self.batch_first}"


class TransformerEncoderLayer(_Layer):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__()
        self._init_common(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                          norm_first, bias, norms=2)
        self._placed(dev)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = operand(src, "src")
        if self.norm_first:
            h = _glue.add(x, self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal))
            return _glue.add(h, self._ff(self.norm2(h)))
        h = self.norm1(_glue.add(x, self._sa(x, src_mask, src_key_padding_mask, is_causal)))
        return self.norm2(_glue.add(h, self._ff(h)))

    def backward(self, grad_out):
        """d_src."""
        g = operand(grad_out, "grad_out")
        if self.norm_first:
            dh = _glue.add(g, self.norm2.backward(self._ff_backward(g)))
            return _glue.add(dh, self.norm1.backward(self._sa_backward(dh)))
        g2 = self.norm2.backward(g)
        g1 = self.norm1.backward(_glue.add(g2, self._ff_backward(g2)))
        return _glue.add(g1, self._sa_backward(g1))


class TransformerDecoderLayer(_Layer):
    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__()
        self._init_common(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                          norm_first, bias, norms=3)
        self._placed(dev)

    def _mha(self, x, memory, mask, key_padding_mask, is_causal):
        out, _ = self.multihead_attn(x, memory, memory, key_padding_mask=key_padding_mask, need_weights=False,
                                     attn_mask=mask, is_causal=bool(is_causal))
        return self.dropout2(out)

    def _mha_backward(self, g):
        """(d_x, d_memory) of the cross-attention block (memory is its key and its value)."""
        dq, dk, dv = self.multihead_attn.backward(self.dropout2.backward(g))
        return dq, _glue.add(dk, dv)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False):
        x, mem = operand(tgt, "tgt"), operand(memory, "memory")
        sa = (tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        ca = (memory_mask, memory_key_padding_mask, memory_is_causal)
        if self.norm_first:
            h1 = _glue.add(x, self._sa(self.norm1(x), *sa))
            h2 = _glue.add(h1, self._mha(self.norm2(h1), mem, *ca))
            return _glue.add(h2, self._ff(self.norm3(h2)))
        h1 = self.norm1(_glue.add(x, self._sa(x, *sa)))
        h2 = self.norm2(_glue.add(h1, self._mha(h1, mem, *ca)))
        return self.norm3(_glue.add(h2, self._ff(h2)))

    def backward(self, grad_out):
        """(d_tgt, d_memory)."""
        g = operand(grad_out, "grad_out")
        if self.norm_first:
            dh2 = _glue.add(g, self.norm3.backward(self._ff_backward(g)))
            dq, dmem = self._mha_backward(dh2)
            dh1 = _glue.add(dh2, self.norm2.backward(dq))
            return _glue.add(dh1, self.norm1.backward(self._sa_backward(dh1))), dmem
        g3 = self.norm3.backward(g)
        g2 = self.norm2.backward(_glue.add(g3, self._ff_backward(g3)))
        dq, dmem = self._mha_backward(g2)
        g1 = self.norm1.backward(_glue.add(g2, dq))
        return _glue.add(g1, self._sa_backward(g1)), dmem


class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer (``layers.0`` ...), then the optional norm."""

    def __init__(self, encoder_layer: Module, num_layers: int, norm=None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(encoder_layer) for _ in range(_features(num_layers, "num_layers")))
        self.num_layers = len(self.layers)
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)

    def backward(self, grad_out):
        """d_src."""
        g = grad_out if self.norm is None else self.norm.backward(grad_out)
        for layer in reversed(list(self.layers)):
            g = layer.backward(g)
        return g


class TransformerDecoder(Module):
    """num_layers deep copies of decoder_layer (``layers.0`` ...), then the optional norm; every
    layer attends to the same memory, whose gradient is the sum over the layers."""

    def __init__(self, decoder_layer: Module, num_layers: int, norm=None):
        super().__init__()
        self.layers = ModuleList(copy.deepcopy(decoder_layer) for _ in range(_features(num_layers, "num_layers")))
        self.num_layers = len(self.layers)
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal: bool = False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)

    def backward(self, grad_out):
        """(d_tgt, d_memory)."""
        g = grad_out if self.norm is None else self.norm.backward(grad_out)
        d_mem = None
        for layer in reversed(list(self.layers)):
            g, dm = layer.backward(g)
            d_mem = dm if d_mem is None else _glue.add_(d_mem, dm)
        return g, d_mem
