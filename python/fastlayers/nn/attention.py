"""MultiheadAttention: torch.nn.MultiheadAttention's constructor, parameters and state_dict, its
forward's arguments and results, and an explicit backward.

Parameters (PyTorch's layout): ``in_proj_weight`` (3E, E), rows [0, E) the query projection, [E, 2E)
the key's, [2E, 3E) the value's; or, when kdim or vdim differ from embed_dim, ``q_proj_weight``
(E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E,) and
``out_proj`` (a Linear(E, E)) when bias=True. Initialisation as PyTorch: Xavier-uniform
projections, zero biases.

forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
average_attn_weights=True, is_causal=False) -> (out, weights). query (L, N, E), key (S, N, kdim),
value (S, N, vdim) ((N, L, E) ... with batch_first=True; unbatched (L, E) ... too); out has query's
layout. Masks use PyTorch's MultiheadAttention convention: a boolean True *excludes* a key (the
opposite of scaled_dot_product_attention's), a float mask is added to the scores.
key_padding_mask is (N, S); attn_mask (L, S) or (N * num_heads, L, S). is_causal=True applies the
causal mask (key j excluded for query i when j > i); PyTorch takes it as a hint that attn_mask is
that mask and requires attn_mask as well: here attn_mask may be given (and is then used when a
key_padding_mask is merged with it) or left out.

- need_weights=False: the fused attention (functional.scaled_dot_product_attention, FlashAttention-2
  style: no L x S matrix), the masks merged into one attn_mask; weights is None.
- need_weights=True: as PyTorch, the weights are computed explicitly: softmax(q k^T / sqrt(D) +
  mask), dropout applied to them in training, out = weights v; weights (N, L, S) averaged over
  the heads (average_attn_weights=True) or (N, num_heads, L, S). A query row whose every key is
  masked gives NaN here, as in PyTorch (the fused path gives zeros).

On device arrays (``.to("cuda")``) the projections, the attention and the glue between them run
on the device; masks (host or device arrays) are checked and merged on the host and the merged
mask is copied to the query's device.

backward(d_out) -> (d_query, d_key, d_value), each of its input's shape (None for an input that
needs none), accumulating the parameters' .grad; the projections are functional.linear_backward
GEMMs that add into the gradients in place. When forward was given one array as query, key and
value (self-attention), the three are that array's gradient through each role and the caller
sums them (as autograd would); the transformer layers use a one-GEMM path that returns the sum.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._backend import DEVICE, operand
from .._backend.device import is_gpu
from .._random import next_seed
from ..functional.dropout import _check_p
from . import _glue, init
from .linear import Linear, _accumulable, _features
from .module import Module, Parameter, factory_device


def _mask_array(mask, name: str):
    """A mask as a NumPy array: bool, or float32 (TypeError for other dtypes)."""
    if mask is None:
        return None
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    if is_gpu(mask):  # merged and checked on the host (a small copy), then moved to the query's device
        mask = DEVICE.to_host(DEVICE.as_array(mask, name))
    arr = np.asarray(mask)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: expected a bool or float mask, got dtype {arr.dtype}")
    return arr.astype(np.float32, copy=False)


def _additive(mask):
    """A MultiheadAttention mask as float scores to add (True -> -inf)."""
    if mask.dtype == np.bool_:
        return np.where(mask, np.float32(-np.inf), np.float32(0.0))
    return mask


def _grad_buffer(p: Parameter):
    """p.grad, made a zeroed array on p's device first when absent, that linear_backward can add into."""
    if not _accumulable(p.grad, p.data):
        g = _glue.zeros_like(p.data)
        if p.grad is not None:
            _glue.add_(g, p.grad)
        p.grad = g
    return p.grad


class MultiheadAttention(Module):
    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, kdim=None, vdim=None, *, device=None, dtype=None):
        dev = factory_device(device, dtype)
        super().__init__()
        E = _features(embed_dim, "embed_dim")
        H = _features(num_heads, "num_heads")
        if H < 1 or E % H:
            raise ValueError(f"embed_dim: must be divisible by num_heads, got embed_dim={E}, num_heads={H}")
        self.embed_dim, self.num_heads, self.head_dim = E, H, E // H
        self.kdim = E if kdim is None else _features(kdim, "kdim")
        self.vdim = E if vdim is None else _features(vdim, "vdim")
        self._qkv_same_embed_dim = self.kdim == E and self.vdim == E
        self.dropout = _check_p(dropout)
        self.batch_first = bool(batch_first)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * E, E), np.float32))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = Parameter(np.empty((E, E), np.float32))
            self.k_proj_weight = Parameter(np.empty((E, self.kdim), np.float32))
            self.v_proj_weight = Parameter(np.empty((E, self.vdim), np.float32))
            self.in_proj_weight = None
        self.in_proj_bias = Parameter(np.zeros(3 * E, np.float32)) if bias else None
        self.out_proj = Linear(E, E, bias=bias)
        self.reset_parameters()
        self._cache = None
        self._placed(dev)

    def reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight.data)
        else:
            for p in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(p.data)
        if self.in_proj_bias is not None:
            self.in_proj_bias.data[...] = 0.0
            self.out_proj.bias.data[...] = 0.0

    # ---- pieces of the projection weights ----
    def _weight(self, i: int) -> Parameter:
        return self.in_proj_weight if self._qkv_same_embed_dim else \
            (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[i]

    def _rows(self, a, i: int, n: int = 1):
        """Rows [i E, (i + n) E) of a packed (3E, ...) array (all of a separate weight)."""
        E = self.embed_dim
        return a if a.shape[0] == n * E else _glue.rows(a, i * E, (i + n) * E)

    def _project(self, x2, i: int, n: int = 1):
        """x2 (M, in) @ the projection rows of roles i .. i + n - 1, plus their bias: (M, n E)."""
        b = None if self.in_proj_bias is None else self._rows(self.in_proj_bias.data, i, n)
        return F.linear(x2, self._rows(self._weight(i).data, i, n), b)

    # ---- layouts ----
    def _check(self, query, key, value):
        """The three inputs as float32 arrays and (batched, N, L, S)."""
        q, k, v = operand(query, "query"), operand(key, "key"), operand(value, "value")
        E, bf = self.embed_dim, self.batch_first
        if q.ndim not in (2, 3) or q.shape[-1] != E:
            layout = "(N, L, E)" if bf else "(L, N, E)"
            raise ValueError(f"query: expected shape {layout} or (L, E) with E = embed_dim = {E}, got {q.shape}")
        batched = q.ndim == 3
        for name, a, d in (("key", k, self.kdim), ("value", v, self.vdim)):
            if a.ndim != q.ndim or a.shape[-1] != d:
                raise ValueError(f"{name}: expected a {q.ndim}-D array whose last dimension is "
                                 f"{'kdim' if name == 'key' else 'vdim'} = {d} (query is {q.shape}), got {a.shape}")
        if batched:
            N, L = (q.shape[0], q.shape[1]) if bf else (q.shape[1], q.shape[0])
            nk, S = (k.shape[0], k.shape[1]) if bf else (k.shape[1], k.shape[0])
            if nk != N:
                raise ValueError(f"key: expected batch size {N} of query {q.shape}, got {k.shape}")
        else:
            N, L, S = 1, q.shape[0], k.shape[0]
        if v.shape[:-1] != k.shape[:-1]:
            raise ValueError(f"value: expected the leading dimensions {k.shape[:-1]} of key {k.shape}, got {v.shape}")
        return q, k, v, batched, N, L, S

    def _heads(self, y, n: int, N: int, T: int, batched: bool):
        """A projection (M, n E) in the input's layout -> (n, N, H, T, D)."""
        H, D = self.num_heads, self.head_dim
        if not batched or self.batch_first:
            return _glue.permute(y.reshape(N, T, n, H, D), (2, 0, 3, 1, 4))
        return _glue.permute(y.reshape(T, N, n, H, D), (2, 1, 3, 0, 4))

    def _unheads(self, a, N: int, T: int, batched: bool):
        """(n, N, H, T, D) -> (M, n E) in the input's layout (the inverse of _heads)."""
        n = a.shape[0]
        if not batched or self.batch_first:
            return _glue.permute(a, (1, 3, 0, 2, 4)).reshape(N * T, n * self.embed_dim)
        return _glue.permute(a, (3, 1, 0, 2, 4)).reshape(T * N, n * self.embed_dim)

    # ---- masks ----
    def _masks(self, key_padding_mask, attn_mask, is_causal, batched: bool, N: int, L: int, S: int, explicit: bool):
        """(attn_mask viewed as (N|1, H|1, L, S) or None, key_padding_mask as (N, 1, 1, S) or None),
        both in MultiheadAttention's convention (True or -inf: excluded), checked."""
        H = self.num_heads
        am = _mask_array(attn_mask, "attn_mask")
        kpm = _mask_array(key_padding_mask, "key_padding_mask")
        if am is not None:
            if am.shape == (L, S):
                am = am.reshape(1, 1, L, S)
            elif am.shape == ((N * H, L, S) if batched else (H, L, S)):
                am = am.reshape(N, H, L, S)
            else:
                want = f"({L}, {S}) or ({N * H if batched else H}, {L}, {S})"
                raise ValueError(f"attn_mask: expected shape {want} (L, S) or (N * num_heads, L, S), "
                                 f"got {am.shape}")
        if kpm is not None:
            if kpm.shape != ((N, S) if batched else (S,)):
                raise ValueError(f"key_padding_mask: expected shape {(N, S) if batched else (S,)} (N, S), "
                                 f"got {kpm.shape}")
            kpm = kpm.reshape(N, 1, 1, S)
        if am is None and is_causal and (kpm is not None or explicit):  # else the fused kernel's own causal mask
            am = np.triu(np.ones((L, S), np.bool_), k=1).reshape(1, 1, L, S)
        return am, kpm

    @staticmethod
    def _sdpa_mask(am, kpm):
        """The merged mask in scaled_dot_product_attention's convention (True = attend; floats added)."""
        if am is None and kpm is None:
            return None
        if all(m is None or m.dtype == np.bool_ for m in (am, kpm)):
            keep = [~m for m in (am, kpm) if m is not None]
            return keep[0] if len(keep) == 1 else keep[0] & keep[1]
        add = [_additive(m) for m in (am, kpm) if m is not None]
        return add[0] if len(add) == 1 else add[0] + add[1]

    # ---- forward ----
    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        self_attn = query is key and key is value
        kv_same = key is value
        q_in, k_in, v_in, batched, N, L, S = self._check(query, key, value)
        am, kpm = self._masks(key_padding_mask, attn_mask, bool(is_causal), batched, N, L, S, bool(need_weights))
        E = self.embed_dim
        xq, xk, xv = q_in.reshape(-1, E), k_in.reshape(-1, self.kdim), v_in.reshape(-1, self.vdim)
        packed = self._qkv_same_embed_dim and self_attn
        if packed:
            q4, k4, v4 = _glue.unstack(self._heads(self._project(xq, 0, 3), 3, N, L, batched))
        else:
            (q4,) = _glue.unstack(self._heads(self._project(xq, 0), 1, N, L, batched))
            if self._qkv_same_embed_dim and kv_same:
                k4, v4 = _glue.unstack(self._heads(self._project(xk, 1, 2), 2, N, S, batched))
            else:
                (k4,) = _glue.unstack(self._heads(self._project(xk, 1), 1, N, S, batched))
                (v4,) = _glue.unstack(self._heads(self._project(xv, 2), 1, N, S, batched))
        p = self.dropout if self.training else 0.0
        seed = next_seed() if p > 0.0 else None
        scale = 1.0 / math.sqrt(self.head_dim)
        c = dict(batched=batched, N=N, L=L, S=S, packed=packed, kv_same=kv_same and self._qkv_same_embed_dim,
                 x=(xq, xk, xv), qkv=(q4, k4, v4), p=p, seed=seed, scale=scale, weights=need_weights)
        if need_weights:
            out4, weights = self._explicit(q4, k4, v4, am, kpm, c, bool(average_attn_weights))
        else:
            causal = bool(is_causal) and kpm is None
            mask = None if causal else _glue.to_device_of(self._sdpa_mask(am, kpm), q4)
            out4, lse = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=mask, dropout_p=p, is_causal=causal,
                                                       scale=scale, return_lse=True, seed=seed)
            c.update(mask=mask, causal=causal, lse=lse)
            weights = None
        c["out"] = out4
        attn2 = self._unheads(out4.reshape((1,) + out4.shape), N, L, batched)
        y = self.out_proj(attn2)
        if self.training:
            self._cache = c
        y = y.reshape(q_in.shape)
        if weights is not None and not batched:
            weights = weights.reshape(weights.shape[1:])
        return y, weights

    def _explicit(self, q4, k4, v4, am, kpm, c, average: bool):
        """softmax(scale q k^T + mask) (dropped out) and its product with v, as PyTorch's need_weights path."""
        N, H, L, S, D = q4.shape[0], self.num_heads, q4.shape[2], k4.shape[2], self.head_dim
        p, seed, scale = c["p"], c["seed"], c["scale"]
        q3, k3, v3 = q4.reshape(N * H, L, D), k4.reshape(N * H, S, D), v4.reshape(N * H, S, D)
        if am is None and kpm is None:
            scores = F.matmul(q3, k3, trans_b=True, alpha=scale)
        else:  # baddbmm: the mask, broadcast to (N H, L, S), is the GEMM's C (beta = 1)
            add = [_additive(m) for m in (am, kpm) if m is not None]
            full = np.broadcast_to(add[0] if len(add) == 1 else add[0] + add[1], (N, H, L, S))
            scores = _glue.to_device_of(np.array(full, dtype=np.float32, order="C").reshape(N * H, L, S), q3)
            F.matmul(q3, k3, trans_b=True, alpha=scale, beta=1.0, out=scores)
        probs = F.softmax(scores, -1)
        dropped = F.dropout(probs, p, True, seed=seed) if p > 0.0 else probs
        out = F.matmul(dropped, v3).reshape(N, H, L, D)
        c.update(probs=probs, dropped=dropped)
        w = dropped.reshape(N, H, L, S)
        return out, (_glue.mean(w, 1) if average else w)

    # ---- backward ----
    def backward(self, grad_out):
        """(d_query, d_key, d_value); see the module doc (self-attention: the caller sums them)."""
        return self._backward(grad_out, summed=False)

    def _backward_summed(self, grad_out):
        """The gradient of the one input of a self-attention forward (query is key is value)."""
        return self._backward(grad_out, summed=True)

    def _backward(self, grad_out, summed: bool):
        c = self._saved(self._cache, "forward state")
        N, L, S, batched = c["N"], c["L"], c["S"], c["batched"]
        q4, k4, v4 = c["qkv"]
        d_attn = self.out_proj.backward(operand(grad_out, "grad_out").reshape(-1, self.embed_dim))
        (d4,) = _glue.unstack(self._heads(d_attn, 1, N, L, batched))
        if c["weights"]:
            dq, dk, dv = self._explicit_backward(d4, c)
        else:
            dq, dk, dv = F.scaled_dot_product_attention_backward(
                d4, q4, k4, v4, c["out"], c["lse"], c["mask"], c["p"], c["causal"], c["scale"], seed=c["seed"])
        xq, xk, xv = c["x"]
        if c["packed"] and summed:
            g = self._unheads(_glue.stack([dq, dk, dv]), N, L, batched)
            dx = self._in_backward(g, xq, 0, 3)
            return self._unbatch(dx, N, L, batched)
        if summed:
            raise RuntimeError("MultiheadAttention: the summed backward needs a self-attention forward "
                               "(query is key is value) with in_proj_weight")
        grads = [self._in_backward(self._unheads(g.reshape((1,) + g.shape), N, T, batched), x, i)
                 for i, (g, x, T) in enumerate(((dq, xq, L), (dk, xk, S), (dv, xv, S)))]
        return tuple(self._unbatch(g, N, T, batched) for g, T in zip(grads, (L, S, S)))

    def _explicit_backward(self, d4, c):
        N, H, L, S, D = d4.shape[0], self.num_heads, c["L"], c["S"], self.head_dim
        q4, k4, v4 = c["qkv"]
        q3, k3, v3 = q4.reshape(N * H, L, D), k4.reshape(N * H, S, D), v4.reshape(N * H, S, D)
        d3 = d4.reshape(N * H, L, D)
        d_dropped = F.matmul(d3, v3, trans_b=True)
        dv = F.matmul(c["dropped"], d3, trans_a=True)
        d_probs = F.dropout_backward(d_dropped, c["p"], c["seed"]) if c["p"] > 0.0 else d_dropped
        d_scores = F.softmax_backward(d_probs, c["probs"], -1)
        dq = F.matmul(d_scores, k3, alpha=c["scale"])
        dk = F.matmul(d_scores, q3, trans_a=True, alpha=c["scale"])
        return dq.reshape(N, H, L, D), dk.reshape(N, H, S, D), dv.reshape(N, H, S, D)

    def _in_backward(self, g, x, i: int, n: int = 1):
        """The input gradient of projection rows i .. i + n - 1 (g (M, n E), x (M, in)); the weight's
        and bias's gradients are added into the matching rows of their .grad."""
        w = self._weight(i)
        gw = self._rows(_grad_buffer(w), i, n)
        gb = None if self.in_proj_bias is None else self._rows(_grad_buffer(self.in_proj_bias), i, n)
        dx, _, _ = F.linear_backward(g, x, self._rows(w.data, i, n), need_bias=gb is not None, grad_weight=gw,
                                     grad_bias=gb)
        return dx

    def _unbatch(self, g, N: int, T: int, batched: bool):
        """A 2-D input gradient back in its input's shape."""
        if not batched:
            return g.reshape(T, -1)
        return g.reshape((N, T, -1) if self.batch_first else (T, N, -1))

    def clear_cache(self) -> None:
        self._cache = None

    def extra_repr(self) -> str:
        extra = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}{extra}")
