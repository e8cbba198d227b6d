"""Fits the polynomial coefficients of csrc/cpu/ukernels/vmath_impl.h and prints them.

    python tools/fit_vmath.py        (needs numpy and scipy; development only)

Near-minimax fits by Lawson's iteratively reweighted least squares on Chebyshev-spaced
points, then the error is re-measured with the coefficients rounded to float32 and, for the
piecewise tables, with float32 Horner steps (each step one fused multiply-add, rounded once),
which is how the kernels evaluate them.
"""
from __future__ import annotations

import math

import numpy as np


def lawson(f, lo, hi, basis, weight, iters=100, n=20000):
    """Coefficients c minimising max |sum c_k b_k(x) - f(x)| * weight(x) on [lo, hi]."""
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.linspace(0, np.pi, n))
    a = np.stack([b(x) for b in basis], 1)
    y, w0, w = f(x), weight(x), np.full(n, 1.0 / n)
    best = (np.inf, None)
    for _ in range(iters):
        sw = np.sqrt(w) * w0
        c, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
        e = np.abs(a @ c - y) * w0
        if e.max() < best[0]:
            best = (float(e.max()), c)
        w = w * np.maximum(e, 1e-300)  # (a nearly exact fit would otherwise zero the weights)
        w /= w.sum()
    return best[1], best[0]


def horner32(c, s):
    """sum c_k s^k in float32 fused-multiply-add steps (c[0] is the constant term)."""
    s = np.float32(s).astype(np.float64)
    p = np.full_like(s, np.float32(c[-1]))
    for v in c[-2::-1]:
        p = np.float32(p * s + np.float32(v)).astype(np.float64)
    return p


def show(name, c, err):
    coeffs = ", ".join(f"{float(np.float32(v))!r}f" for v in c)
    print(f"{name}: max weighted error {err:.2e}\n  {{{coeffs}}}")


def log2_table(name, q_of, amax, nint=16, deg=5):
    """Q on nint intervals of width h = 16 / nint centred on k h (the first is [0, h/2]), degree
    deg in u = a - k h; absolute error in Q weighted by 1/max(1, a^2) (gelu's tolerance).
    Printed as tab[j][k], the coefficient of u^j on interval k."""
    h = 16.0 / nint
    rows, worst_fit, worst32 = [], 0.0, 0.0
    for k in range(nint):
        c0, lo, hi = k * h, (-h / 2 if k else 0.0), h / 2
        if c0 - h / 2 >= amax:  # past the callers' clamp: continue the previous interval's fit
            rows.append(rows[-1])
            continue
        wt = lambda u, c0=c0: 1 / np.maximum(1, (c0 + u) ** 2)  # noqa: E731
        c, e = lawson(lambda u, c0=c0: q_of(c0 + u), lo, hi, [lambda u, j=j: u**j for j in range(deg + 1)], wt, n=3000)
        u = np.linspace(lo, hi, 20001)
        e32 = float((np.abs(horner32(c, u) - q_of(c0 + u)) * wt(u)).max())
        worst_fit, worst32 = max(worst_fit, e), max(worst32, e32)
        rows.append(c)
    print(f"{name}: relative error in 2^Q, units of 2^-24 (ln2 * dQ * 2^24): "
          f"fit {worst_fit * math.log(2) * 2**24:.2f}, float32 Horner {worst32 * math.log(2) * 2**24:.2f}")
    for j in range(deg + 1):
        print("  {" + ", ".join(f"{float(np.float32(r[j]))!r}f" for r in rows) + "},")


def main():
    half_ln2 = math.log(2) / 2
    # exp(r) = 1 + r + r^2 P(r), P of degree 4, relative error on [-ln2/2, ln2/2].
    basis = [lambda r, k=k: r**k for k in range(2, 7)]
    c, e = lawson(lambda r: np.exp(r) - 1 - r, -half_ln2, half_ln2, basis, lambda r: np.exp(-r))
    show("exp_core P (x^2 ... x^6)", c, e)
    # expm1(r) = r + r^2 P(r), relative error.
    c, e = lawson(lambda r: np.expm1(r) - r, -half_ln2, half_ln2, basis, lambda r: 1 / np.abs(np.expm1(r) + 1e-300))
    show("expm1_core P (x^2 ... x^6)", c, e)

    # pow2_piecewise tables. AVX2 (lut16: 16-entry lookups): 16 intervals of width 1, degree 5.
    # AVX-512 (lut32: one vpermt2ps per coefficient): 32 intervals of width 1/2, degree 4.
    from scipy.special import log_ndtr

    q_phi = lambda a: log_ndtr(-a) / math.log(2)  # noqa: E731
    k0, k1 = math.sqrt(2 / math.pi), 0.044715
    # gelu(tanh): Q = log2 sigmoid(-t(a)), t = 2 k0 (a + k1 a^3); used up to a = 11.
    q_tanh = lambda a: -np.logaddexp(0.0, 2 * k0 * (a + k1 * a**3)) / math.log(2)  # noqa: E731
    log2_table("kPhiLog2Tab (gelu: Q = log2 Phi(-a))", q_phi, 15.0)
    log2_table("kGeluTanhLog2Tab (gelu tanh: Q = log2 sigmoid(-t(a)))", q_tanh, 11.5)
    log2_table("kPhiLog2Tab32", q_phi, 15.0, nint=32, deg=4)
    log2_table("kGeluTanhLog2Tab32", q_tanh, 11.5, nint=32, deg=4)
    # pow2_split: 2^f of degree 5, relative error; on [0, 1) for AVX-512 (f = Q - floor(Q)),
    # on [-1/2, 1/2] otherwise (f = Q - round(Q)).
    c, e = lawson(lambda f: 2.0**f, 0.0, 1.0, [lambda f, j=j: f**j for j in range(6)], lambda f: 2.0**-f)
    show("pow2_split 2^f on [0, 1) (f^0 ... f^5)", c, e)
    c, e = lawson(lambda f: 2.0**f, -0.5, 0.5, [lambda f, j=j: f**j for j in range(6)], lambda f: 2.0**-f)
    show("pow2_split 2^f on [-1/2, 1/2] (f^0 ... f^5)", c, e)


if __name__ == "__main__":
    main()
