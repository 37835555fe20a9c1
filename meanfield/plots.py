"""Figures of the mean-field level: a trajectory, the harness's error against N, and both levels' trajectories.
Matplotlib `Figure` objects only (no pyplot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic
from sdce.figures import plot_summaries
from sdce.results import Comparison, Trajectory

LABELS = {"rho": r"$\max_t |\rho_t - \rho_t^{MF}|$", "w2": r"$\max_t MW_2(\bar q_t, \bar q_t^{MF})$",
          "quality": r"$\max_t |Q_t - Q_t^{MF}| / Q_t^{MF}$"}


def plot_meanfield(summary: Trajectory, path: Path) -> None:
    """rho_t, Q_t, W2_t and W_t of one mean-field trajectory."""
    cfg = summary.config
    plot_summaries({"mean field": summary}, f"mean-field limit ({summary.grid}): {cfg['regime']}, "
                   f"rule={cfg['learning_rule']}, tau={cfg['temperature']}", path, style="o--", color="k")


def plot_errors(result: Comparison, path: Path) -> None:
    """Median error over seeds against N on log-log axes with the fitted N^-a line, per metric, against the ABM's
    own limit (solid) and the other rule's limit (dotted)."""
    producers = np.asarray(result.producers, float)
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    colors = {"mle": "tab:blue", "wgf": "tab:orange"}
    for ax, metric in zip(axes, LABELS):
        for rule, by_limit in result.by_rule.items():
            for limit, res in by_limit.items():
                errors = np.asarray(res["errors"][metric])
                own = limit == rule
                fit = res["exponent"][metric]
                label = (f"ABM {rule} vs {limit} limit" + (f": a = {fit['estimate']:.2f} "
                         f"[{fit['low']:.2f}, {fit['high']:.2f}]" if own else ""))
                ax.loglog(producers, errors, "o-" if own else "s:", color=colors[rule], alpha=1 if own else 0.5,
                          label=label)
                if own:
                    line = errors[0] * (producers / producers[0]) ** (-fit["estimate"])
                    centre = np.exp(np.mean(np.log(errors)) - np.mean(np.log(line)))
                    ax.loglog(producers, line * centre, "--", color=colors[rule], lw=1)
        ax.set(title=LABELS[metric], xlabel="producers N")
        ax.legend(fontsize=7)
    fig.suptitle(f"ABM -> mean field: median over {result.seeds} seeds; dashed: fitted N^-a")
    save_figure_atomic(fig, path, 110)


def plot_trajectories(paths: pd.DataFrame, limits: dict, rules, path: Path) -> None:
    """rho_t, Q_t and MW2(q̄_t, p): the ABM's 10-90% band over seeds at each N against the mean-field lines."""
    fig = Figure(figsize=(13, 4.2 * len(rules)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rules), 3))
    sizes = sorted(paths["producers"].unique())
    cmap = [f"C{k}" for k in range(len(sizes))]
    titles = {"rho": r"$\rho_t$", "quality": r"mean $Q_t$", "w2": r"$W_2(\bar q_t, p)$ (mixture $W_2$)"}
    for row, rule in zip(axes, rules):
        runs = paths[paths["rule"] == rule]
        for ax, metric in zip(row, titles):
            for n, color in zip(sizes, cmap):
                band = runs[runs["producers"] == n].groupby("generation")[metric]
                low, high = band.quantile(0.1), band.quantile(0.9)
                ax.fill_between(low.index, low, high, color=color, alpha=0.25, label=f"ABM N={n}")
            for limit, style in (("mle", "k--"), ("wgf", "k:")):
                ax.plot(np.arange(len(limits[limit][metric])), limits[limit][metric], style,
                        label=f"mean field, {limit} limit")
            ax.set(title=f"ABM rule {rule}: {titles[metric]}", xlabel="generation")
            ax.legend(fontsize=7)
    save_figure_atomic(fig, path, 110)
