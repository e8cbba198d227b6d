"""CUDA benchmark cases: activations and SGEMM on device arrays, against PyTorch (cuBLAS).

Two views, both after warm-up:
- ``cases(quick)`` feeds `fastlayers bench`: each call ends with a device synchronise so that
  the wall-clock timer measures the kernel (plus one launch and one sync). The NumPy column is
  the CPU computation of the same result; PyTorch runs on the same GPU with TF32 off (on for
  the tf32 rows). Without a usable GPU it returns no cases.
- ``python -m fastlayers._bench.cuda`` prints kernel time from CUDA events (``kernel ms``,
  averaged over many launches) and NumPy->NumPy time (copy in, kernel, copy out), the figures
  DESIGN.md asks for.
Bytes per activation call: 8 per element (4 read + 4 written); SGEMM FLOPs: 2 M N K.
The %peak column of `fastlayers bench` is relative to the CPU peak; ignore it for these rows.
"""
from __future__ import annotations

import numpy as np

from .. import _core, cuda
from .. import functional as F
from .common import Case, rng, time_ms

_NOTE = "GPU; %peak is vs CPU"


def _torch_cuda():
    try:
        import torch  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - torch is optional
        return None
    return torch if torch.cuda.is_available() else None


def _synced(fn):
    def call():
        fn()
        cuda.synchronize()
    return call


def _specs(quick: bool):
    """(name, shape, ours(x, y), torch(tx, ty) or None, numpy(x) or None, flops, bytes, tf32)."""
    n = (1 << 20) if quick else (1 << 24)
    act = [
        ("relu", (n,), lambda x, y: F.relu(x, out=y), "relu"),
        ("sigmoid", (n,), lambda x, y: F.sigmoid(x, out=y), "sigmoid"),
        ("gelu", (n,), lambda x, y: F.gelu(x, out=y), "gelu"),
        ("softmax(rows of 1024)", (n // 1024, 1024), lambda x, y: F.softmax(x, out=y), "softmax"),
    ]
    sizes = [1024] if quick else [1024, 4096]
    return act, sizes


def _torch_act(torch, name):
    nnf = torch.nn.functional
    return {"relu": lambda t, o: torch.clamp_min(t, 0, out=o), "sigmoid": lambda t, o: torch.sigmoid(t, out=o),
            "gelu": lambda t, o: o.copy_(nnf.gelu(t)), "softmax": lambda t, o: torch.softmax(t, -1, out=o)}[name]


def cases(quick: bool = False) -> list[Case]:
    if not cuda.is_available():
        return []
    torch = _torch_cuda()
    act, sizes = _specs(quick)
    out = []
    for name, shape, ours, tname in act:
        x = rng(0).standard_normal(shape, dtype=np.float32) * 3
        xd, yd = cuda.to_device(x), cuda.empty(shape)
        size = int(np.prod(shape))
        th = None
        if torch:
            tx, ty = torch.from_numpy(x).cuda(), torch.empty(shape, device="cuda")
            fn = _torch_act(torch, tname)
            th = (lambda fn=fn, tx=tx, ty=ty: (fn(tx, ty), torch.cuda.synchronize()))
        cpu = {"relu": F.relu, "sigmoid": F.sigmoid, "gelu": F.gelu, "softmax": F.softmax}[tname]
        out.append(Case("cuda", f"cuda {name}", f"{shape} out=", _synced(lambda o=ours, a=xd, b=yd: o(a, b)),
                        lambda c=cpu, a=x: c(a), th, bytes=8.0 * size, note=_NOTE))
    for precision in ("float32", "tf32"):
        for s in sizes:
            a = rng(1).standard_normal((s, s), dtype=np.float32)
            b = rng(2).standard_normal((s, s), dtype=np.float32)
            ad, bd, cd = cuda.to_device(a), cuda.to_device(b), cuda.empty((s, s))

            def ours(ad=ad, bd=bd, cd=cd, p=precision):
                before = cuda.get_matmul_precision()
                cuda.set_matmul_precision(p)
                try:
                    cuda.matmul(ad, bd, out=cd)
                finally:
                    cuda.set_matmul_precision(before)
            th = None
            if torch:
                ta, tb, tc = (torch.from_numpy(v).cuda() for v in (a, b, np.empty((s, s), np.float32)))

                def th(ta=ta, tb=tb, tc=tc, p=precision):
                    torch.backends.cuda.matmul.allow_tf32 = p == "tf32"
                    torch.matmul(ta, tb, out=tc)
                    torch.cuda.synchronize()
            npf = None if (quick or s > 1024) else (lambda a=a, b=b: a @ b)
            out.append(Case("cuda", f"cuda sgemm {precision}", f"{s}x{s}x{s}", _synced(ours), npf, th,
                            flops=2.0 * s ** 3, note=_NOTE))
    return out


def event_table(quick: bool = False, echo=print) -> list[dict]:
    """Kernel ms (CUDA events) and NumPy->NumPy ms for our kernels, and PyTorch's kernel ms."""
    if not cuda.is_available():
        echo(f"no usable GPU: {cuda.unavailable_reason()}")
        return []
    torch = _torch_cuda()
    act, sizes = _specs(quick)
    rows = []

    def kernel_ms(fn, repeat):
        for _ in range(3):
            fn()
        return _core.cuda_time_ms(fn, repeat, 0)

    echo(f"{'op':<30} {'shape':<22} {'kernel ms':>10} {'np->np ms':>10} {'torch ms':>9} {'vs torch':>8} "
         f"{'GB/s':>7} {'TFLOP/s':>8}")
    for name, shape, ours, tname in act:
        x = rng(0).standard_normal(shape, dtype=np.float32) * 3
        xd, yd = cuda.to_device(x), cuda.empty(shape)
        ms = kernel_ms(lambda: ours(xd, yd), 50)
        n2n = time_ms(lambda: ours(cuda.to_device(x), None).numpy(), 0.2)
        th = None
        if torch:
            tx, ty = torch.from_numpy(x).cuda(), torch.empty(shape, device="cuda")
            fn = _torch_act(torch, tname)
            th = kernel_ms(lambda: fn(tx, ty), 50)
        rows.append({"op": name, "shape": str(shape), "kernel_ms": ms, "numpy_to_numpy_ms": n2n, "torch_ms": th,
                     "gbps": 8.0 * x.size / ms / 1e6})
    for precision in ("float32", "tf32"):
        for s in sizes:
            a = rng(1).standard_normal((s, s), dtype=np.float32)
            b = rng(2).standard_normal((s, s), dtype=np.float32)
            ad, bd, cd = cuda.to_device(a), cuda.to_device(b), cuda.empty((s, s))
            before = cuda.get_matmul_precision()
            cuda.set_matmul_precision(precision)
            try:
                ms = kernel_ms(lambda: cuda.matmul(ad, bd, out=cd), 10)
                n2n = time_ms(lambda: cuda.matmul(cuda.to_device(a), cuda.to_device(b)).numpy(), 0.2)
            finally:
                cuda.set_matmul_precision(before)
            th = None
            if torch:
                ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
                tc = torch.empty((s, s), device="cuda")
                torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
                th = kernel_ms(lambda: torch.matmul(ta, tb, out=tc), 10)
            rows.append({"op": f"sgemm {precision}", "shape": f"{s}^3", "kernel_ms": ms, "numpy_to_numpy_ms": n2n,
                         "torch_ms": th, "tflops": 2.0 * s ** 3 / ms / 1e9})
    for r in rows:
        def f(v, fmt):
            return format(v, fmt) if v is not None else "-"
        vs = r["torch_ms"] / r["kernel_ms"] if r["torch_ms"] else None
        echo(f"{r['op']:<30} {r['shape']:<22} {r['kernel_ms']:>10.4f} {r['numpy_to_numpy_ms']:>10.3f} "
             f"{f(r['torch_ms'], '>9.4f')} {f(vs, '>7.2f')}x {f(r.get('gbps'), '>7.1f')} {f(r.get('tflops'), '>8.2f')}")
    return rows


if __name__ == "__main__":
    import argparse
    import json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    result = event_table(args.quick)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
