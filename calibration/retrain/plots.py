"""Figure of a retraining panel: each metric against generation, one line per contamination ratio."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic
from sdce.figures import figure_legend

LABELS = {"perplexity": "held-out perplexity", "train_loss": "training loss (NLL per unit)",
          "frechet": "Fréchet distance (fixed features)", "concentration": "concentration",
          "tail_coverage": "long-tail coverage", "nll": "held-out NLL (nats per unit)",
          "relative_quality": "$Q_t / Q_0$"}


def plot_panel(panel: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Mean over seeds (line) and min-max over seeds (band) of every metric in the panel, one legend below; the
    title says the number of seeds and the band."""
    metrics = list(dict.fromkeys(panel["metric"]))
    fig = Figure(figsize=(4.2 * len(metrics), 3.4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    cmap = matplotlib.colormaps["viridis"]
    rhos = sorted(panel["rho"].unique())
    for ax, metric in zip(axes, metrics):
        sub = panel[panel["metric"] == metric]
        for i, rho in enumerate(rhos):
            g = sub[sub["rho"] == rho].groupby("generation")["value"]
            stats = g.agg(["mean", "min", "max"])
            color = cmap(i / max(1, len(rhos) - 1))
            ax.plot(stats.index, stats["mean"], marker="o", ms=3, color=color, label=rf"$\rho$ = {rho:g}")
            if (stats["max"] > stats["min"]).any():
                ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15, lw=0)
        ax.set_xlabel("generation $t$")
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.set_title(LABELS.get(metric, metric), fontsize=9)
    figure_legend(fig, ncols=len(rhos))
    seeds = panel["seed"].nunique()
    fig.suptitle(f"{title + ': ' if title else ''}recursive retraining, mean over {seeds} seed"
                 f"{'s' if seeds > 1 else ''} (band: min-max over seeds)", fontsize=10)
    save_figure_atomic(fig, path, 120)
    return path
