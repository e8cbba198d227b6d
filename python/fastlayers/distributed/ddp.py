"""DistributedDataParallel: every rank holds the whole model and trains on its own shard of
each global batch; gradients are summed over ranks in buckets and averaged.

Buckets are runs of parameters in backward order (the reverse of ``parameters()``), each up to
``bucket_cap_mb``. Every module that owns parameters gets its ``backward`` wrapped: when it
returns, its parameters' gradients are final, and a bucket whose parameters are all final is
packed into one flat float32 buffer and its ``Iallreduce`` started, so that the sums of the
last layers travel while the first layers still run their backward. Buckets start strictly in
index order (MPI needs the same order of collectives on every rank). ``backward`` then waits
for all of them (with the deadline of ``init``) and writes the averages back into ``.grad``.

The average is weighted: each rank sends ``weight * grad`` and ``weight`` (one extra float per
bucket) and divides the sums. With ``weight`` = the number of samples the rank's mean loss
averaged over, the result is exactly the gradient of the mean loss over the global batch,
even when the last batch splits unevenly (or leaves a rank with nothing: ``reduce_gradients(0)``).
Optimizer steps then see the same gradients everywhere, so parameters and optimizer state
stay identical across ranks.
"""
from __future__ import annotations

import os

import numpy as np

from ..nn.module import Module
from . import runtime as _c


class _Bucket:
    __slots__ = ("params", "offsets", "send", "recv", "ready", "request")

    def __init__(self, params):
        self.params = params
        sizes = [p.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n = int(self.offsets[-1])
        self.send = np.empty(n + 1, np.float32)  # the last slot carries the rank's weight
        self.recv = np.empty(n + 1, np.float32)
        self.ready, self.request = 0, None


class DistributedDataParallel(Module):
    """Wraps a model (on the CPU) for data-parallel training over MPI.

    ``ddp(x)`` runs the model (first broadcasting rank 0's buffers, e.g. BatchNorm running
    statistics, when broadcast_buffers); ``ddp.backward(dy, weight=n)`` runs the model's
    backward with the all-reduce overlapped and returns its result once every ``.grad`` holds
    the average. Parameters are broadcast from rank 0 on construction. bucket_cap_mb: the
    bucket size in MiB (default $FASTLAYERS_BUCKET_CAP_MB or 25).
    """

    def __init__(self, module: Module, bucket_cap_mb: float | None = None, broadcast_buffers: bool = True):
        super().__init__()
        if bucket_cap_mb is None:
            bucket_cap_mb = float(os.environ.get("FASTLAYERS_BUCKET_CAP_MB", 25.0))
        if not isinstance(module, Module):
            raise TypeError(f"module: expected a fastlayers Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb: expected a positive size in MiB, got {bucket_cap_mb}")
        self.module = module
        self.bucket_cap_mb, self.broadcast_buffers = float(bucket_cap_mb), bool(broadcast_buffers)
        self._comm = _c.init()
        _c.broadcast_parameters(module)
        self._buckets = self._make_buckets(module, int(bucket_cap_mb * 2**20))
        where = {}
        for b in self._buckets:
            for p in b.params:
                where[id(p)] = b
        self._where = where
        self._next = 0
        self._weight = 1.0
        self.overlapped_buckets = 0  # of the last reduction: buckets started during backward
        self._install_hooks(module)

    @staticmethod
    def _make_buckets(module, cap_bytes):
        params = [p for p in module.parameters()]
        if any(not isinstance(p.data, np.ndarray) for p in params):
            raise TypeError("DistributedDataParallel: parameters on a GPU are not supported; keep the model on the CPU")
        seen, ordered = set(), []
        for p in reversed(params):
            if id(p) not in seen:
                seen.add(id(p))
                ordered.append(p)
        buckets, cur, size = [], [], 0
        for p in ordered:
            if cur and size + 4 * p.size > cap_bytes:
                buckets.append(_Bucket(cur))
                cur, size = [], 0
            cur.append(p)
            size += 4 * p.size
        if cur:
            buckets.append(_Bucket(cur))
        return buckets

    def _install_hooks(self, module) -> None:
        self._hooked_modules = []
        for m in module.modules():
            own = [p for p in m._parameters.values() if p is not None]
            if own:
                if "backward" in m.__dict__:
                    raise ValueError(f"module: {type(m).__name__} is already wrapped by a DistributedDataParallel; "
                                     "call its detach() first")
                object.__setattr__(m, "backward", self._hooked(m.backward, own))
                self._hooked_modules.append(m)

    def detach(self) -> Module:
        """Removes the backward hooks and returns the plain model (e.g. after training)."""
        for m in self._hooked_modules:
            m.__dict__.pop("backward", None)
        self._hooked_modules = []
        return self.module

    def _hooked(self, backward, own):
        def wrapped(*args, **kwargs):
            out = backward(*args, **kwargs)
            self._mark_ready(own)
            return out
        wrapped.__doc__ = backward.__doc__
        return wrapped

    @property
    def num_buckets(self) -> int:
        return len(self._buckets)

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and self.training:
            bufs = [b for _, b in self.module.named_buffers()]
            if bufs and self._comm.Get_size() > 1:
                _c.broadcast_arrays(bufs, 0, "broadcast of buffers")
        return self.module(*args, **kwargs)

    def backward(self, grad_out, *args, weight: float = 1.0, **kwargs):
        """The model's backward, then the gradient all-reduce; weight: this rank's share of
        the global average (its local batch size when the loss is a mean over the batch)."""
        self._weight = float(weight)
        out = self.module.backward(grad_out, *args, **kwargs)
        self.reduce_gradients(weight)
        return out

    def reduce_gradients(self, weight: float | None = None) -> None:
        """Starts the buckets not yet started (a parameter without a gradient sends zeros),
        waits for all, and writes the weighted averages into every parameter's .grad. Call
        it after a backward run outside ddp.backward, or alone (weight=0) on a rank whose
        share of the batch is empty, so that the collectives still match."""
        if weight is not None:
            self._weight = float(weight)
        self.overlapped_buckets = self._next
        while self._next < len(self._buckets):
            self._start(self._buckets[self._next])
        _c.wait([b.request for b in self._buckets], "gradient all-reduce")
        for b in self._buckets:
            total = float(b.recv[-1])
            if not total > 0:
                _c.abort(f"gradient all-reduce: the ranks' weights sum to {total}, expected a positive total")
            for p, lo, hi in zip(b.params, b.offsets[:-1], b.offsets[1:]):
                avg = b.recv[lo:hi].reshape(p.shape)
                if isinstance(p.grad, np.ndarray) and p.grad.dtype == np.float32 and p.grad.flags.c_contiguous:
                    np.multiply(avg, np.float32(1.0 / total), out=p.grad)
                else:
                    p.grad = avg * np.float32(1.0 / total)
            b.ready, b.request = 0, None
        self._next, self._weight = 0, 1.0

    def _mark_ready(self, own) -> None:
        for p in own:
            b = self._where[id(p)]
            b.ready += 1
        buckets = self._buckets
        while self._next < len(buckets) and buckets[self._next].ready >= len(buckets[self._next].params):
            self._start(buckets[self._next])
        started = [b.request for b in self._buckets[:self._next] if b.request is not None]
        if started:  # a test drives MPI's progress on the sums already travelling
            _c._mpi().Request.Testall(started)

    def _start(self, b: _Bucket) -> None:
        w = np.float32(self._weight)
        for p, lo, hi in zip(b.params, b.offsets[:-1], b.offsets[1:]):
            dst = b.send[lo:hi]
            if p.grad is None or w == 0:
                dst[...] = 0.0
            elif w == 1:
                dst[...] = np.asarray(p.grad, np.float32).reshape(-1)
            else:
                np.multiply(np.asarray(p.grad, np.float32).reshape(-1), w, out=dst)
        b.send[-1] = w
        b.request = self._comm.Iallreduce(b.send, b.recv, op=_c._mpi().SUM)
        self._next += 1

    def extra_repr(self) -> str:
        return f"world_size={self._comm.Get_size()}, buckets={len(self._buckets)}, bucket_cap_mb={self.bucket_cap_mb:g}"
