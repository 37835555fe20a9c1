"""Theorem 5 and the Cramér–Rao bound (11): the running-mean provenance estimator against 1/(T I).

Each producer's provenance phi_i is observed through T independent signals phi_hat = phi_i + e, e ~ N(0, sigma_e^2) with
sigma_e^2 = sigma_0^2 (1 - psi)/psi (docs/model.md §4), so one signal carries Fisher information I = 1/sigma_e^2 and any
unbiased estimator from T signals has variance >= 1/(T I). The running mean (docs/model.md §6) is unbiased; its variance
across `reps` replications, averaged over the producers drawn from the configured population, is compared with the bound
at every horizon T, and log variance is fitted on log T (the bound has slope -1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic
from sdce.config import SDCEConfig
from sdce.economics.signals import fisher_information, running_mean, signal_variance
from sdce.errors import ConfigError
from sdce.figures import figure_legend
from sdce.population import draw_producer_types


def checked_design(horizons: Sequence[int], reps: int) -> list[int]:
    """The horizons, sorted, once they and `reps` are valid; else ConfigError naming the option."""
    given = list(horizons)
    horizons = sorted(int(t) for t in given)
    if not horizons or horizons[0] < 1 or len(set(horizons)) < len(horizons):
        raise ConfigError(f"theorem5: horizons must be distinct integers >= 1, got {given}")
    if reps < 2:
        raise ConfigError(f"theorem5: reps must be >= 2, got {reps}")
    return horizons


def estimator_variance(cfg: SDCEConfig, horizons: Sequence[int], reps: int = 2000, seed: int = 0) -> dict:
    """Variance of the running-mean estimate and the bound 1/(T I) at each T; ratio, fitted slope, bias."""
    horizons = checked_design(horizons, reps)
    rng = np.random.default_rng(seed)
    phi = draw_producer_types(cfg, rng).phi_bar
    noise_var = float(signal_variance(cfg.signal_sd, cfg.levers().psi))
    estimate = np.zeros((reps, phi.size))
    variance, bias = [], []
    for t in range(1, horizons[-1] + 1):
        estimate = running_mean(estimate, t, phi + np.sqrt(noise_var) * rng.standard_normal(estimate.shape))
        if t in horizons:
            variance.append(float(estimate.var(axis=0, ddof=1).mean()))
            bias.append(float(np.abs(estimate.mean(axis=0) - phi).mean()))
    bound = [float(1.0 / (t * fisher_information(noise_var))) for t in horizons]
    ratio = [v / b if b > 0 else None for v, b in zip(variance, bound)]  # None: exact signals, bound 0
    slope = float(np.polyfit(np.log(horizons), np.log(variance), 1)[0]) if noise_var > 0 and len(horizons) > 1 \
        else None
    return {"horizons": horizons, "variance": variance, "cramer_rao": bound, "ratio": ratio, "slope": slope,
            "mean_abs_bias": bias, "fisher_information": float(fisher_information(noise_var)),
            "psi": float(cfg.levers().psi), "producers": int(phi.size), "reps": reps, "seed": seed}


def plot_theorem5(result: dict, path: Path) -> Path:
    """The running-mean estimator's variance over `reps` replications against the Cramér–Rao bound 1/(T I), eq. (11)."""
    fig = Figure(figsize=(5.5, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.loglog(result["horizons"], result["variance"], "o", label="running mean (measured)")
    ax.loglog(result["horizons"], result["cramer_rao"], "-", label="Cramér–Rao $1/(T I)$, eq. (11)")
    slope = "n/a" if result["slope"] is None else f"{result['slope']:.3f}"
    ax.set(xlabel="signals $T$", ylabel=r"variance of $\hat\phi$ (squared share)",
           title=f"Theorem 5: fitted slope {slope} (bound: $-1$); {result['reps']} replications, "
                 f"N = {result['producers']}")
    figure_legend(fig, ncols=2)
    save_figure_atomic(fig, path, 120)
    return path
