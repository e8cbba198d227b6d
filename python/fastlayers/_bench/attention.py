"""Attention benchmark cases: scaled dot-product attention, B=1, H=8, D=64, T=4096 (quick: 1024),
causal and not, forward and forward+backward, against PyTorch's SDPA on the CPU.

FLOPs: the forward's two products are 4 T^2 D per head, the backward's five 10 T^2 D (halved,
T (T + 1) / 2 scores, under the causal mask). NumPy's formulation is softmax(Q K^T) V one head at a
time (the whole T x T score matrix of a head, 64 MiB at T = 4096), forward only.
extra_memory_mib() measures what the fused op allocates beyond its inputs and outputs, in a
fresh process (the goal at T = 8192 is at most 32 MiB; the NumPy formulation needs 256 MiB per
head, 2 GiB for all eight heads at once).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from .. import functional as F
from .common import Case, rng, try_torch

B, H, D = 1, 8, 64


def _flops(T: int, causal: bool, backward: bool) -> float:
    scores = T * (T + 1) / 2 if causal else T * T
    return B * H * scores * D * (4.0 + (10.0 if backward else 0.0))


def cases(quick: bool = False) -> list[Case]:
    T = 1024 if quick else 4096
    r = rng(0)
    q, k, v, g = (r.standard_normal((B, H, T, D), dtype=np.float32) for _ in range(4))
    out = np.empty_like(q)
    torch = try_torch()
    shape = f"B={B} H={H} T={T} D={D}"

    def np_forward():
        for h in range(H):
            s = q[0, h] @ k[0, h].T
            s *= np.float32(1.0 / np.sqrt(D))
            s -= s.max(axis=1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=1, keepdims=True)
            np.matmul(s, v[0, h], out=out[0, h])

    result = []
    for causal in (False, True):
        name = "sdpa causal" if causal else "sdpa"

        def fwd(causal=causal):
            F.scaled_dot_product_attention(q, k, v, is_causal=causal, out=out)

        def fwd_bwd(causal=causal):
            o, lse = F.scaled_dot_product_attention(q, k, v, is_causal=causal, return_lse=True)
            F.scaled_dot_product_attention_backward(g, q, k, v, o, lse, is_causal=causal)

        th = th_fb = None
        if torch:
            tq, tk, tv, tg = (torch.from_numpy(a) for a in (q, k, v, g))

            def th(causal=causal):
                with torch.no_grad():
                    torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)

            def th_fb(causal=causal):
                a, b, c = (t.detach().requires_grad_() for t in (tq, tk, tv))
                torch.nn.functional.scaled_dot_product_attention(a, b, c, is_causal=causal).backward(tg)

        result += [
            Case("attention", f"{name} fwd", shape, fwd, None if causal else np_forward, th,
                 flops=_flops(T, causal, False)),
            Case("attention", f"{name} fwd+bwd", shape, fwd_bwd, None, th_fb, flops=_flops(T, causal, True)),
        ]
    return result


_MEMORY_SCRIPT = """
import sys
import numpy as np
import fastlayers
import fastlayers.functional as F
T, causal, threads = int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3])
fastlayers.set_num_threads(threads)
r = np.random.default_rng(0)
q, k, v, g = (r.standard_normal((1, 8, T, 64), dtype=np.float32) for _ in range(4))
def status(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field + ":"))
def start():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # the peak (VmHWM) restarts from the current resident size
    return status("VmRSS")
base = start()
out, lse = F.scaled_dot_product_attention(q, k, v, is_causal=causal, return_lse=True)
fwd = status("VmHWM") - base - out.nbytes - lse.nbytes
base = start()
grads = F.scaled_dot_product_attention_backward(g, q, k, v, out, lse, is_causal=causal)
bwd = status("VmHWM") - base - sum(a.nbytes for a in grads)
print(fwd / 2**20, bwd / 2**20)
"""


def extra_memory_mib(T: int = 8192, causal: bool = False, threads: int = 2) -> tuple[float, float]:
    """(forward, backward) peak resident memory in MiB beyond inputs and outputs, in a fresh process:
    the peak resident size during the call (VmHWM, reset through /proc/self/clear_refs; not
    getrusage's ru_maxrss, which a child inherits from its parent across fork and exec) minus the
    resident size before it. Linux only."""
    res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(T), "1" if causal else "0", str(threads)],
                         capture_output=True, text=True, check=True)
    fwd, bwd = (float(x) for x in res.stdout.split())
    return fwd, bwd
