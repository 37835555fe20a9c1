"""Figures of the mean-field level: a trajectory, a grid run's densities q̄_t beside p, the harness's error against
N, and both levels' trajectories (docs/figures.md). Matplotlib `Figure` objects only (no pyplot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from meanfield.solve import grid_spec
from sdce.atomic import save_figure_atomic
from sdce.config import SDCEConfig
from sdce.figures import figure_legend, plot_summaries
from sdce.results import Comparison, Trajectory

MW2 = (r"$MW_2$: the mixture $W_2$ of Delon & Desolneux (2020), exact between the Gaussian mixtures "
       "(no sampled probe, so no probe floor)")
LABELS = {"rho": (r"contamination $\rho_t$", r"$\max_t |\rho_t - \rho_t^{MF}|$"),
          "w2": (r"public model $\bar q_t$", r"$\max_t MW_2(\bar q_t, \bar q_t^{MF})$ (units of $x$)"),
          "quality": (r"quality $Q_t$", r"$\max_t |Q_t - Q_t^{MF}| / Q_t^{MF}$")}
SNAPSHOTS = 3  # generations of q̄_t drawn beside p: 0, about T/2 and T


def plot_meanfield(summary: Trajectory, path: Path) -> None:
    """rho_t, Q_t, W2_t and W_t of one mean-field trajectory (a grid run draws its densities with
    `plot_densities` too)."""
    cfg = summary.config
    plot_summaries({"mean field": summary}, f"mean-field limit ({summary.grid}): {cfg['regime']}, "
                   f"rule={cfg['learning_rule']}, " + r"$\tau$" + f" = {cfg['temperature']} (deterministic, N → ∞)",
                   path, style="o--", color="k")


def snapshot_generations(generations: int) -> list[int]:
    """The generations whose q̄_t `plot_densities` draws: 0, T and about T/2 between (distinct)."""
    return sorted({round(k * generations / (SNAPSHOTS - 1)) for k in range(SNAPSHOTS)})


def plot_densities(cfg: SDCEConfig, result: dict, path: Path) -> None:
    """The public model q̄_t of a grid solve (eq. 8-9 on the grid of `meanfield.solve.grid_spec`) beside the human
    distribution p at `snapshot_generations`: cell masses over the cell volume, i.e. densities. 1-D: one panel of
    lines; 2-D: p, then q̄_t on one colour scale, p's contours over each."""
    spec = grid_spec(cfg)
    volume = spec.spacing ** spec.dim
    public, p = np.asarray(result["public"]) / volume, np.asarray(result["p"]) / volume
    picks = snapshot_generations(len(public) - 1)
    title = (f"grid mean field ({spec.dim}-D, {spec.n} cells per axis): {cfg.regime}, rule={cfg.learning_rule}, "
             r"$\tau$" + f" = {cfg.temperature}; " + r"$\bar q_t$ beside $p$")
    if spec.dim == 1:
        fig = Figure(figsize=(7, 4.2), layout="constrained")
        ax = fig.subplots()
        x = spec.axes[0]
        ax.plot(x, p, "k-", lw=2, label="$p$ (human)")
        for t, style in zip(picks, ("--", "-.", ":")):
            ax.plot(x, public[t], style, lw=1.5, label=rf"$\bar q_{{{t}}}$")
        ax.set(xlabel="$x$", ylabel="density", title="public model against human data")
        figure_legend(fig)
    else:
        fig = Figure(figsize=(3.4 * (len(picks) + 1), 3.8), layout="constrained")
        axes = fig.subplots(1, len(picks) + 1, sharex=True, sharey=True)
        x, y = spec.axes
        top = float(max(p.max(), public[picks].max()))
        panels = [("$p$ (human data)", p)] + [(rf"$\bar q_{{{t}}}$, generation {t}", public[t]) for t in picks]
        for ax, (name, density) in zip(axes, panels):
            mesh = ax.pcolormesh(x, y, density.T, vmin=0, vmax=top, cmap="viridis", shading="nearest")
            ax.contour(x, y, p.T, levels=4, colors="w", linewidths=0.6)
            ax.set(title=name, xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
        held = np.max([d for _, d in panels], axis=0) > 1e-3 * top  # zoom to where any panel has mass
        axes[0].set(xlim=x[held.any(axis=1)][[0, -1]], ylim=y[held.any(axis=0)][[0, -1]])
        fig.colorbar(mesh, ax=axes, label="density (white: contours of $p$)", shrink=0.85)
    fig.suptitle(title)
    save_figure_atomic(fig, path, 110)


def plot_errors(result: Comparison, path: Path) -> None:
    """Median error over seeds against N on log-log axes with the fitted N^-a line, per metric, against the ABM's
    own limit (solid) and the other rule's limit (dotted); the fitted a with its 95% interval in each panel."""
    producers = np.asarray(result.producers, float)
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    colors = {"mle": "tab:blue", "wgf": "tab:orange"}
    for ax, metric in zip(axes, LABELS):
        fits = []
        for rule, by_limit in result.by_rule.items():
            for limit, res in by_limit.items():
                errors = np.asarray(res["errors"][metric])
                own = limit == rule
                ax.loglog(producers, errors, "o-" if own else "s:", color=colors[rule], alpha=1 if own else 0.5,
                          label=f"ABM {rule} vs {limit} limit")
                if own:
                    fit = res["exponent"][metric]
                    fits.append(f"{rule}: a = {fit['estimate']:.2f} [{fit['low']:.2f}, {fit['high']:.2f}]")
                    line = errors[0] * (producers / producers[0]) ** (-fit["estimate"])
                    centre = np.exp(np.mean(np.log(errors)) - np.mean(np.log(line)))
                    ax.loglog(producers, line * centre, "--", color=colors[rule], lw=1,
                              label=f"fitted $N^{{-a}}$, {rule}")
        ax.text(0.03, 0.03, "\n".join(fits), transform=ax.transAxes, fontsize=7, va="bottom")
        title, ylabel = LABELS[metric]
        ax.set(title=title, xlabel="producers $N$", ylabel=ylabel)
    figure_legend(fig, ncols=5)
    fig.suptitle(f"ABM → mean field: median over {result.seeds} seeds; a with its 95% bootstrap interval over seeds. "
                 f"{MW2}", fontsize=9)
    save_figure_atomic(fig, path, 110)


def plot_trajectories(paths: pd.DataFrame, limits: dict, rules, regime: str, path: Path) -> None:
    """rho_t, Q_t and MW2(q̄_t, p): the ABM's 10-90% band over seeds at each N against both mean-field limits
    (mle: dashed with circles, wgf: dotted with crosses, so the two stay visible where they coincide)."""
    fig = Figure(figsize=(13, 4.2 * len(rules) + 0.8), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rules), 3))
    sizes = sorted(paths["producers"].unique())
    cmap = [f"C{k}" for k in range(len(sizes))]
    seeds = sorted(paths["seed"].unique())
    panels = {"rho": (r"$\rho_t$", r"$\rho_t$ (synthetic share)"), "quality": (r"mean $Q_t$", r"$Q_t$ (quality index)"),
              "w2": (r"$MW_2(\bar q_t, p)$", r"$MW_2$ (units of $x$)")}
    styles = {"mle": dict(ls="--", marker="o", mfc="none", ms=6, color="k"),
              "wgf": dict(ls=":", marker="x", ms=6, color="tab:purple")}
    for row, rule in zip(axes, rules):
        runs = paths[paths["rule"] == rule]
        for ax, (metric, (title, ylabel)) in zip(row, panels.items()):
            for n, color in zip(sizes, cmap):
                band = runs[runs["producers"] == n].groupby("generation")[metric]
                low, high = band.quantile(0.1), band.quantile(0.9)
                ax.fill_between(low.index, low, high, color=color, alpha=0.25,
                                label=f"ABM, N = {n}: 10–90% over seeds")
            for limit, style in styles.items():
                ax.plot(np.arange(len(limits[limit][metric])), limits[limit][metric], lw=1.3, **style,
                        label=f"mean field, {limit} limit")
            ax.set(title=f"ABM rule {rule}: {title}", xlabel="generation $t$", ylabel=ylabel)
    figure_legend(fig, ncols=len(sizes) + 2)
    fig.suptitle(f"{regime}: the ABM over {len(seeds)} seeds per N (band: 10–90% quantiles over seeds) against the "
                 "mean-field limits; where the mle and wgf limits coincide their markers overlap.\n" + MW2, fontsize=9)
    save_figure_atomic(fig, path, 110)
