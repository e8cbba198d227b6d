"""`fastlayers bench --plot FILE.png`: the table at a glance. One line per row, our time and
NumPy's and PyTorch's as markers on a log scale (left is faster), rows grouped by family; a
hollow marker is a library whose rounds varied more than 2x (no ratio in the table), and the
speed-up against the faster baseline is written at the right. Needs matplotlib."""
from __future__ import annotations

STYLE = {"ours": ("fastlayers", "#d62728", "o"), "numpy": ("NumPy", "#1f77b4", "s"),
         "torch": ("PyTorch", "#ff7f0e", "D")}


def plot_rows(rows: list, path: str, title: str = "") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("ours_ms")]
    fig, ax = plt.subplots(figsize=(9.5, 0.24 * len(rows) + 1.6))
    ys = range(len(rows))
    for impl, (label, color, marker) in STYLE.items():
        pts = [(r[f"{impl}_ms"], y, impl in r.get("varies", ())) for y, r in zip(ys, rows) if r.get(f"{impl}_ms")]
        if not pts:
            continue
        steady = [(t, y) for t, y, v in pts if not v]
        shaky = [(t, y) for t, y, v in pts if v]
        if steady:
            ax.scatter(*zip(*steady), color=color, marker=marker, s=22, label=label, zorder=3)
        if shaky:
            ax.scatter(*zip(*shaky), facecolors="none", edgecolors=color, marker=marker, s=22, zorder=3,
                       label=f"{label}, rounds varied > 2x")
    ax.set_xscale("log")
    ax.set_yticks(list(ys))
    ax.set_yticklabels([f"{r['op']}  {r['shape']}" for r in rows], fontsize=6.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    for y, (a, b) in enumerate(zip(rows, rows[1:]), start=1):
        if a["family"] != b["family"]:
            ax.axhline(y - 0.5, color="0.8", lw=0.8)
    ax.grid(axis="x", which="both", color="0.92", lw=0.6)
    ax.set_xlabel("ms per call (log scale; left is faster)")
    trans = ax.get_yaxis_transform()
    for y, r in zip(ys, rows):
        ratios = [v for v in (r.get("speedup_numpy"), r.get("speedup_torch")) if v]
        if ratios:
            ax.text(1.01, y, f"{min(ratios):.2f}x", transform=trans, fontsize=6.5, va="center")
    ax.text(1.01, -1.0, "vs faster\nbaseline", transform=trans, fontsize=6.5, va="bottom")
    r0 = rows[0] if rows else {}
    ax.set_title(title or f"fastlayers bench: isa {r0.get('isa')}, {r0.get('threads')} threads, {r0.get('timing')}",
                 fontsize=9)
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
