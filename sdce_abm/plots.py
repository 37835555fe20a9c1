"""Figures a person reads: one run's trajectory, and regimes side by side. Matplotlib `Figure` objects only
(no pyplot), so they are safe to draw from worker threads and the visualization server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic
from sdce.figures import plot_summaries
from sdce.results import Trajectory


def plot_trajectory(frame: pd.DataFrame, phi: pd.Series, w2_floor: float, title: str, path: Path) -> None:
    """rho_t, Q_t (mean with the band over trainers), W2_t beside its probe floor, and the provenance histogram.

    `frame` is `sdce_abm.output.trajectory`, `phi` the producers' provenance by generation."""
    gen = frame.index.to_numpy()
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2)
    fig.suptitle(title)
    axes[0, 0].plot(gen, frame["rho"], "o-", color="tab:red")
    axes[0, 0].set(title=r"contamination $\rho_t$ (eq. 1)", xlabel="generation", ylim=(0, 1))
    per_trainer = frame.filter(like="quality_j")
    axes[0, 1].fill_between(gen, per_trainer.min(axis=1), per_trainer.max(axis=1), alpha=0.25, label="trainers")
    axes[0, 1].plot(gen, frame["quality"], "o-", label="mean")
    axes[0, 1].set(title=r"quality $Q_t$ (eq. 2 with collapse)", xlabel="generation", ylim=(0, None))
    axes[0, 1].legend()
    axes[1, 0].plot(gen, frame["w2"], "o-", label="probe (ott-jax Sinkhorn)")
    axes[1, 0].plot(gen, frame["w2_moments"], "s--", label="Gaussian of the moments (Bures)")
    axes[1, 0].axhline(w2_floor, color="grey", ls=":", label="probe noise floor W2(p, p)")
    axes[1, 0].set(title=r"drift $W_2(\bar q_t, p)$", xlabel="generation", ylim=(0, None))
    axes[1, 0].legend()
    bins = np.linspace(0, 1, 26)
    axes[1, 1].hist(phi.iloc[0], bins=bins, alpha=0.5, label="generation 0")
    axes[1, 1].hist(phi.iloc[-1], bins=bins, alpha=0.5, label=f"generation {gen[-1]}")
    axes[1, 1].set(title=r"producer provenance $\phi_i$", xlabel=r"$\phi$", ylabel="producers")
    axes[1, 1].legend()
    save_figure_atomic(fig, path, 110)


def plot_regime_comparison(results: dict[str, Trajectory], path: Path) -> None:
    """rho_t, mean Q_t, W2_t (probe) and W_t for several runs (`sdce_abm.output.summary`), one line each."""
    plot_summaries(results, f"Regimes side by side (seed {next(iter(results.values())).seed})", path)


def plot_learning(curves: pd.DataFrame, path: Path) -> None:
    """PMIR's learning curves over market rounds (Algorithm 1): shaped return, TD critic loss, mean posted price,
    rho, with generation boundaries marked."""
    x = np.arange(len(curves))
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    panels = (("return", "shaped return r̃ (per unit of V/M)"), ("critic_loss", "TD critic loss"),
              ("price", "mean posted price"), ("rho", r"contamination $\rho$ of the round"))
    starts = x[curves["round"].to_numpy() == 0]
    for ax, (column, title) in zip(axes, panels):
        ax.plot(x, curves[column], lw=1)
        for s in starts[1:]:
            ax.axvline(s, color="0.85", lw=0.8, zorder=0)
        ax.set(title=title, xlabel="market round (grey: a new generation)")
    fig.suptitle("PMIR learning curves (Algorithm 1)")
    save_figure_atomic(fig, path, 110)
