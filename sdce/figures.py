"""The four-panel figure of run summaries, shared by the ABM and the mean field: rho_t, mean Q_t, the drift
W2(q̄_t, p) and welfare W_t (Theorem 2), and what every figure of the project shares (docs/figures.md): one legend
per figure, below the data, and the W2 probe's noise floor. Matplotlib `Figure` objects only (no pyplot), so it is
safe to draw from worker threads and the visualization server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sdce.atomic import save_figure_atomic
from sdce.results import Trajectory

PANELS = (("rho", r"contamination $\rho_t$", r"$\rho_t$ (synthetic share)"),
          ("quality", r"mean quality $Q_t$", r"$Q_t$ (quality index)"),
          ("w2", r"drift $W_2(\bar q_t, p)$", r"$W_2$ (units of $x$)"),
          ("welfare_path", r"welfare $W_t$ (Theorem 2)", r"$W_t$ (per unit of $V$)"))
FLOOR_LABEL = r"probe noise floor $W_2(\hat p, \hat p')$"


def figure_legend(fig: Figure, ncols: int = 4, **kwargs) -> None:
    """One legend for the whole figure, below the data (constrained layout makes room for it), of every labelled
    artist of its axes, each label once."""
    entries = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(entries.values(), entries.keys(), loc=kwargs.pop("loc", "outside lower center"),
                   ncols=min(ncols, len(entries)), fontsize=kwargs.pop("fontsize", 8), **kwargs)


def draw_w2_floor(ax, floors) -> None:
    """The probe's noise floor: W2 between the held-out probe of p and a fresh sample of p (`SDCEModel.w2_floor`),
    a line, or the band between the smallest and the largest when the runs' floors differ (0: exact W2, none)."""
    floors = sorted({float(f) for f in floors if f > 0})
    if len(floors) == 1:
        ax.axhline(floors[0], color="grey", ls=":", lw=1.2, label=f"{FLOOR_LABEL} = {floors[0]:.3f}")
    elif floors:
        ax.axhspan(floors[0], floors[-1], color="grey", alpha=0.2,
                   label=f"{FLOOR_LABEL}: {floors[0]:.3f}–{floors[-1]:.3f}")


def plot_summaries(summaries: dict[str, Trajectory], title: str, path: Path, style: str = "o-",
                   color: str | None = None) -> None:
    """One line per `Trajectory` (the ABM's or the mean field's) in each panel, labelled by its key, one legend
    below; the W2 panel shows the probe floor of the ABM runs (the mean field's W2 is exact)."""
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    markers = "osD^vP*X"
    for ax, (key, panel, ylabel) in zip(fig.subplots(2, 2).ravel(), PANELS):
        for k, (name, summary) in enumerate(summaries.items()):
            values = getattr(summary, key)
            shape = style if color is not None else style.replace("o", markers[k % len(markers)])
            ax.plot(np.arange(len(values)), values, shape, color=color, label=name, ms=5, alpha=0.85)
        if key == "w2":
            draw_w2_floor(ax, [s.w2_probe_floor for s in summaries.values()])
            ax.set_ylim(0, None)
        ax.set(title=panel, xlabel="generation $t$", ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure_legend(fig)
    fig.suptitle(title)
    save_figure_atomic(fig, path, 110)
