"""CUDA benchmark cases of the CNN layers: convolution (issue 5's layers a-c, a 1 x 1 and a
depthwise layer), forward and forward + backward, max_pool2d and batch_norm, on device arrays,
against PyTorch on the same GPU (cuDNN, TF32 off).

Same two views as _bench/cuda.py: ``cases(quick)`` for `fastlayers bench` (each call ends with
a device synchronise; the NumPy column is fastlayers' CPU path on the same data), and
``python -m fastlayers._bench.cuda_conv [--quick] [--json FILE]``, which prints kernel time from
CUDA events next to PyTorch's (record the table in bench/results/ when a GPU is lent). Without
a usable GPU there are no cases. FLOPs of a convolution: 2 N K P Q (C / groups) R S per pass;
forward + backward counts three passes.
"""
from __future__ import annotations

import numpy as np

from .. import _core, cuda
from .. import functional as F
from .common import Case, rng
from .cuda import _NOTE, _synced, _torch_cuda

# (name, x shape (N, C, H, W), weight shape (K, C/groups, R, S), padding, groups)
_CONV = [
    ("(a) 5x5 C=1", (64, 1, 28, 28), (32, 1, 5, 5), 2, 1),
    ("(b) 3x3 C=64", (32, 64, 56, 56), (64, 64, 3, 3), 1, 1),
    ("(c) 3x3 C=128", (32, 128, 28, 28), (128, 128, 3, 3), 1, 1),
    ("1x1 C=128", (32, 128, 28, 28), (256, 128, 1, 1), 0, 1),
    ("depthwise 3x3", (32, 128, 28, 28), (128, 1, 3, 3), 1, 128),
]


def _specs(quick: bool):
    """(conv specs, max-pool input shape, batch-norm input shape); quick: batch 4."""
    if not quick:
        return _CONV, (32, 64, 56, 56), (32, 64, 56, 56)
    conv = [(n, (min(4, x[0]),) + x[1:], w, p, g) for n, x, w, p, g in _CONV]
    return conv, (4, 64, 56, 56), (4, 64, 56, 56)


def _conv_flops(x, w, padding, groups) -> float:
    N, _, H, W = x
    K, Cg, R, S = w
    return 2.0 * N * K * (H + 2 * padding - R + 1) * (W + 2 * padding - S + 1) * Cg * R * S


def _ops(spec):
    """(forward(x, w), forward + backward(x, w)) on our functional API (host or device)."""
    _, _, _, padding, groups = spec

    def fwd(x, w):
        return F.conv2d(x, w, None, 1, padding, 1, groups)

    def fwd_bwd(x, w):
        y = fwd(x, w)
        return F.conv2d_backward(y, x, w, 1, padding, 1, groups, bias=False)
    return fwd, fwd_bwd


def _torch_ops(torch, spec):
    _, _, _, padding, groups = spec
    nnf = torch.nn.functional

    def fwd(x, w):
        return nnf.conv2d(x, w, None, 1, padding, 1, groups)

    def fwd_bwd(x, w):
        y = fwd(x, w)
        return torch.autograd.grad(y, (x, w), y)
    return fwd, fwd_bwd


def _inputs(spec):
    """Host x and w of a conv spec, their device copies, and the FLOPs of one pass."""
    _, xs, ws, padding, groups = spec
    x = rng(0).standard_normal(xs, dtype=np.float32)
    w = rng(1).standard_normal(ws, dtype=np.float32)
    return x, w, cuda.to_device(x), cuda.to_device(w), _conv_flops(xs, ws, padding, groups)


def _torch_pair(torch, x, w, grad: bool):
    return (torch.from_numpy(x).cuda().requires_grad_(grad), torch.from_numpy(w).cuda().requires_grad_(grad))


def _kernel_ms(fn, repeat: int) -> float:
    for _ in range(3):
        fn()
    return _core.cuda_time_ms(fn, repeat, 0)


def _torch_setup(torch):
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True


def cases(quick: bool = False) -> list[Case]:
    if not cuda.is_available():
        return []
    torch = _torch_cuda()
    conv, pool_shape, bn_shape = _specs(quick)
    out = []
    for spec in conv:
        name, xs, ws = spec[:3]
        x, w, xd, wd, flops = _inputs(spec)
        for (label, ours, passes), th_op in zip(((f"cuda conv2d {name}", _ops(spec)[0], 1),
                                                 (f"cuda conv2d+bwd {name}", _ops(spec)[1], 3)),
                                                _torch_ops(torch, spec) if torch else (None, None)):
            th = None
            if torch:
                _torch_setup(torch)
                tx, tw = _torch_pair(torch, x, w, passes > 1)
                th = (lambda f=th_op, tx=tx, tw=tw: (f(tx, tw), torch.cuda.synchronize()))
            npf = None if quick else (lambda f=ours, x=x, w=w: f(x, w))
            out.append(Case("cuda", label, f"{xs} * {ws}", _synced(lambda f=ours, a=xd, b=wd: f(a, b)), npf, th,
                            flops=passes * flops, note=_NOTE))
    x = rng(2).standard_normal(pool_shape, dtype=np.float32)
    xd = cuda.to_device(x)
    th = None
    if torch:
        tx = torch.from_numpy(x).cuda()
        th = (lambda: (torch.nn.functional.max_pool2d(tx, 2), torch.cuda.synchronize()))
    out.append(Case("cuda", "cuda max_pool2d 2x2", str(pool_shape), _synced(lambda: F.max_pool2d(xd, 2)),
                    lambda: F.max_pool2d(x, 2), th, bytes=4.0 * x.size * 1.25, note=_NOTE))
    x = rng(3).standard_normal(bn_shape, dtype=np.float32)
    C = bn_shape[1]
    xd, rm, rv = cuda.to_device(x), cuda.to_device(np.zeros(C)), cuda.to_device(np.ones(C))
    th = None
    if torch:
        tx, trm, trv = torch.from_numpy(x).cuda(), torch.zeros(C, device="cuda"), torch.ones(C, device="cuda")
        th = (lambda: (torch.nn.functional.batch_norm(tx, trm, trv, training=True), torch.cuda.synchronize()))
    out.append(Case("cuda", "cuda batch_norm train", str(bn_shape),
                    _synced(lambda: F.batch_norm(xd, rm, rv, training=True)), None, th, bytes=12.0 * x.size,
                    note=_NOTE))
    return out


def event_table(quick: bool = False, echo=print) -> list[dict]:
    """Kernel ms (CUDA events) of our conv kernels and PyTorch's (cuDNN), forward and fwd+bwd."""
    if not cuda.is_available():
        echo(f"no usable GPU: {cuda.unavailable_reason()}")
        return []
    torch = _torch_cuda()
    if torch:
        _torch_setup(torch)
    conv, _, _ = _specs(quick)
    rows = []
    echo(f"{'op':<34} {'kernel ms':>10} {'torch ms':>9} {'vs torch':>8} {'TFLOP/s':>8}")
    for spec in conv:
        name, xs, ws = spec[:3]
        x, w, xd, wd, flops = _inputs(spec)
        theirs = _torch_ops(torch, spec) if torch else (None, None)
        for label, ours, th_op, passes in zip(("forward", "forward+backward"), _ops(spec), theirs, (1, 3)):
            ms = _kernel_ms(lambda f=ours: f(xd, wd), 5)
            th = None
            if torch:
                tx, tw = _torch_pair(torch, x, w, passes > 1)
                th = _kernel_ms(lambda f=th_op: f(tx, tw), 5)
            rows.append({"op": f"conv2d {name} {label}", "x": xs, "w": ws, "kernel_ms": ms, "torch_ms": th,
                         "tflops": passes * flops / ms / 1e9})
    for r in rows:
        vs = f"{r['torch_ms'] / r['kernel_ms']:>7.2f}x" if r["torch_ms"] else "       -"
        th = f"{r['torch_ms']:>9.3f}" if r["torch_ms"] else "        -"
        echo(f"{r['op']:<34} {r['kernel_ms']:>10.3f} {th} {vs} {r['tflops']:>8.2f}")
    return rows


def main(argv=None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 4 instead of the issue's batches")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON (for bench/results/)")
    opts = parser.parse_args(argv)
    rows = event_table(opts.quick)
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump(rows, fh, indent=2, default=str)


if __name__ == "__main__":
    main()
