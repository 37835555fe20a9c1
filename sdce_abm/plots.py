"""Figures a person reads: one run's trajectory, and regimes side by side. Matplotlib `Figure` objects only
(no pyplot), so they are safe to draw from worker threads and the visualization server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic
from sdce.figures import draw_w2_floor, figure_legend, plot_summaries
from sdce.results import Trajectory


def plot_trajectory(frame: pd.DataFrame, phi: pd.Series, w2_floor: float, title: str, path: Path) -> None:
    """rho_t, Q_t (mean with the min-max band over trainers), W2_t beside its probe floor, welfare W_t beside realised
    welfare, its components (docs/model.md §8), and the provenance histogram.

    `frame` is `sdce_abm.output.trajectory`, `phi` the producers' provenance by generation."""
    gen = frame.index.to_numpy()
    fig = Figure(figsize=(14, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
    fig.suptitle(f"{title} (one run; band: min-max over the trainers)")
    axes[0, 0].plot(gen, frame["rho"], "o-", color="tab:red", label=r"$\rho_t$")
    axes[0, 0].set(title=r"contamination $\rho_t$ (eq. 1)", ylabel=r"$\rho_t$ (synthetic share)", ylim=(0, 1))
    per_trainer = frame.filter(like="quality_j")
    axes[0, 1].fill_between(gen, per_trainer.min(axis=1), per_trainer.max(axis=1), alpha=0.25,
                            label=r"$Q_{j,t}$: min-max over trainers")
    axes[0, 1].plot(gen, frame["quality"], "o-", label=r"mean $Q_t$")
    axes[0, 1].set(title=r"quality $Q_t$ (eq. 2 with collapse)", ylabel=r"$Q_t$ (quality index)", ylim=(0, None))
    axes[0, 2].plot(gen, frame["w2"], "o-", label=r"$W_2$ probe (ott-jax Sinkhorn)")
    axes[0, 2].plot(gen, frame["w2_moments"], "s--", label=r"$W_2$ of the moments' Gaussians (Bures)")
    draw_w2_floor(axes[0, 2], [w2_floor])
    axes[0, 2].set(title=r"drift $W_2(\bar q_t, p)$", ylabel=r"$W_2$ (units of $x$)", ylim=(0, None))
    axes[1, 0].plot(gen, frame["W"], "o-", color="tab:blue", label=r"$W_t$ (Theorem 2)")
    axes[1, 0].plot(gen, frame["W_realized"], "x--", color="tab:grey", label=r"realised $W_t$")
    axes[1, 0].set(title=r"welfare $W_t$ and realised welfare", ylabel=r"$W_t$ (per unit of $V$)")
    for key, label, sign, style in (("W_prod", r"$W_{prod}$", 1, "^-"), ("W_cons", r"$W_{cons}$", 1, "v-"),
                                    ("L_coll", r"$-L_{coll}$", -1, "<-"), ("L_info", r"$-L_{info}$", -1, ">-"),
                                    ("policy_cost", "$-$policy cost", -1, "d-")):
        axes[1, 1].plot(gen, sign * frame[key], style, ms=4, label=label)
    axes[1, 1].axhline(0, color="k", lw=0.6)
    axes[1, 1].set(title=r"welfare components (docs/model.md §8)", ylabel=r"per unit of $V$")
    for ax in (*axes[0], *axes[1, :2]):
        ax.set_xlabel("generation $t$")
    bins = np.linspace(0, 1, 26)
    axes[1, 2].hist(phi.iloc[0], bins=bins, alpha=0.5, label=r"$\phi_i$ at generation 0")
    axes[1, 2].hist(phi.iloc[-1], bins=bins, alpha=0.5, label=rf"$\phi_i$ at generation {gen[-1]}")
    axes[1, 2].set(title=r"producer provenance $\phi_i$", xlabel=r"$\phi_i$ (human share)", ylabel="producers")
    figure_legend(fig, ncols=5)
    save_figure_atomic(fig, path, 110)


def plot_regime_comparison(results: dict[str, Trajectory], path: Path) -> None:
    """rho_t, mean Q_t, W2_t (probe) and W_t for several runs (`sdce_abm.output.summary`), one line each."""
    plot_summaries(results, f"Regimes side by side: one ABM run each, seed {next(iter(results.values())).seed}", path)


def plot_learning(curves: pd.DataFrame, path: Path) -> None:
    """PMIR's learning curves over market rounds (Algorithm 1): shaped return, TD critic loss, mean posted price,
    rho, with generation boundaries marked."""
    x = np.arange(len(curves))
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    panels = (("return", r"shaped return $\tilde r$", r"$\tilde r$ (per unit of $V/M$)"),
              ("critic_loss", "TD critic loss", "squared TD error"),
              ("price", "mean posted price", "price per unit"),
              ("rho", r"contamination $\rho$ of the round", r"$\rho$ (synthetic share)"))
    starts = x[curves["round"].to_numpy() == 0]
    for ax, (column, title, ylabel) in zip(axes, panels):
        ax.plot(x, curves[column], lw=1)
        for s in starts[1:]:
            ax.axvline(s, color="0.85", lw=0.8, zorder=0)
        ax.set(title=title, xlabel="market round (grey: a new generation)", ylabel=ylabel)
    fig.suptitle("PMIR learning curves (Algorithm 1)")
    save_figure_atomic(fig, path, 110)
