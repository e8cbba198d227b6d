"""What the step-budgeted demos (deepdta, caption, cyclegan) share: their command-line options
(--steps, --batch-size, --lr, --quick, --seed, --plot and demo-specific ones), the configuration
those give (DEFAULTS, QUICK under --quick, explicit options over both), and a training loop over
a fixed number of steps with a running-average loss, a loss curve and the progress bar."""
from __future__ import annotations

import time


def add_step_arguments(p, defaults: dict, quick: dict, quick_help: str, plot_help: str, extra=()) -> None:
    """The shared options; `extra`: (flag, type, help) of further settings that default to None."""
    p.add_argument("--steps", type=int, help=f"training steps (default {defaults['steps']}; --quick {quick['steps']})")
    for flag, kind, text in extra:
        key = flag.lstrip("-").replace("-", "_")
        p.add_argument(flag, type=kind, help=f"{text} (default {defaults[key]})")
    p.add_argument("--batch-size", type=int, help=f"(default {defaults['batch_size']})")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {defaults['lr']})")
    p.add_argument("--quick", action="store_true", help=f"{quick_help} (under 30 s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="FILE.png", help=f"{plot_help} (needs matplotlib)")


def step_config(args, quick: dict, keys=("steps", "batch_size", "lr")) -> dict:
    """The overrides the options give: QUICK under --quick, then each of `keys` given explicitly."""
    cfg = dict(quick) if args.quick else {}
    for key in keys:
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    return cfg


def merge_config(name: str, defaults: dict, overrides: dict, positive=()) -> dict:
    """defaults updated by overrides; ValueError for an unknown key or a setting in `positive` below 1."""
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise ValueError(f"{name}: unknown settings {sorted(unknown)}, expected some of {sorted(defaults)}")
    cfg = {**defaults, **overrides}
    for key in positive:
        if cfg[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')}: expected a positive integer, got {cfg[key]}")
    return cfg


def run_steps(steps: int, step, *, progress: bool = True, every: int = 25, shown=None) -> tuple:
    """Calls step(i) for i = 1..steps; step returns a loss or a dict of losses. Keeps their running
    average (weight 0.05 for the newest), records it every `every` steps as the curve and shows
    the entries named in `shown` (default: all) on the progress bar. Returns (curve, seconds),
    curve a list of (step, average)."""
    from .common import ProgressBar
    bar = ProgressBar(steps, unit="step") if progress else None
    curve, avg, t0 = [], None, time.perf_counter()
    for i in range(1, steps + 1):
        losses = step(i)
        losses = losses if isinstance(losses, dict) else {"loss": float(losses)}
        avg = dict(losses) if avg is None else {k: 0.95 * avg[k] + 0.05 * v for k, v in losses.items()}
        if i % every == 0 or i == steps:
            curve.append((i, dict(avg) if len(avg) > 1 else avg["loss"]))
            if bar:
                bar.update(i, **{k: f"{v:.4f}" for k, v in avg.items() if shown is None or k in shown})
    return curve, time.perf_counter() - t0
