"""The four-panel figure of run summaries, shared by the ABM and the mean field: rho_t, mean Q_t, the drift
W2(q̄_t, p) and welfare W_t (Theorem 2). Matplotlib `Figure` objects only (no pyplot), so it is safe to draw from
worker threads and the visualization server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic
from sdce.results import Trajectory

PANELS = (("rho", r"contamination $\rho_t$"), ("quality", r"mean quality $Q_t$"),
          ("w2", r"drift $W_2(\bar q_t, p)$"), ("welfare_path", r"welfare $W_t$ (Theorem 2)"))


def plot_summaries(summaries: dict[str, Trajectory], title: str, path: Path, style: str = "o-",
                   color: str | None = None) -> None:
    """One line per `Trajectory` (the ABM's or the mean field's) in each panel, labelled by its key (a legend
    when there are several)."""
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    for ax, (key, panel) in zip(fig.subplots(2, 2).ravel(), PANELS):
        for name, summary in summaries.items():
            values = getattr(summary, key)
            ax.plot(np.arange(len(values)), values, style, color=color, label=name)
        ax.set(title=panel, xlabel="generation")
        if len(summaries) > 1:
            ax.legend()
    fig.suptitle(title)
    save_figure_atomic(fig, path, 110)
