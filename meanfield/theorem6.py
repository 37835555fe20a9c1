"""Theorem 6 as a measurement: PMIR's iterations to an epsilon-SDCE against epsilon (docs/model.md §9).

The continuum PMIR (`meanfield.pmir`, Algorithm 1's expected dynamics) is run for many generations; an iteration is
one market round. The epsilon-SDCE is the mean of the market's observables (rho, mean posted price, share of
content bought) over the last third of the run, and the distance at round k is their largest relative gap to it.
Constant steps (Adam, line 18) leave an oscillation around it: its size over that last third is the smallest epsilon
the dynamics reach. Iterations to an epsilon-SDCE are the first round after which the distance stays below epsilon
(None: not reached within the run). The slope of log iterations on log epsilon, fitted over the epsilons reached and
only when there are at least MIN_FIT_POINTS of them, is reported beside the claimed O(epsilon^-2 log T), i.e. a slope
of -2. The epsilons cost nothing beyond the one run, so the grid is dense above any floor seen at Table I.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from meanfield.solve import solve_meanfield
from sdce.atomic import save_figure_atomic, write_text_atomic
from sdce.config import SDCEConfig
from sdce.errors import ConfigError
from sdce.figures import figure_legend

OBSERVABLES = ("rho", "price", "buy_share")
TAIL = 1 / 3  # the last third of the run: where the epsilon-SDCE is averaged
CLAIMED_SLOPE = -2.0  # O(epsilon^-2): the theorem's rate, as a slope on log-log axes


def iterations_to_epsilon(curves: dict[str, np.ndarray], epsilons, tail: float = TAIL):
    """The relative distance to the epsilon-SDCE by round (the SDCE: the mean over the last `tail` of the run), its
    floor (the largest distance over that tail: the oscillation the dynamics keep), and for each epsilon the first
    round after which the distance stays <= epsilon (None where it is not reached within the run)."""
    n = len(next(iter(curves.values())))
    last = max(int(round(n * tail)), 1)
    centres = {k: curves[k][-last:].mean() for k in OBSERVABLES}
    gaps = [np.abs(curves[k] - centres[k]) / max(abs(centres[k]), 1e-12) for k in OBSERVABLES]
    distance = np.max(gaps, axis=0)
    above = distance[::-1] > np.asarray(epsilons)[:, None]  # from the end backwards
    first_below = len(distance) - np.argmax(above, axis=1)  # first round from which the distance stays <= epsilon
    floor = float(distance[-last:].max())
    reached = ~above[:, 0] & (np.asarray(epsilons) >= floor)
    iterations = [int(k) if ok else None for ok, k in zip(reached, np.where(above.any(axis=1), first_below, 0))]
    return distance, floor, iterations


# 15 epsilons, about geometric from 0.5 to 0.01; at Table I the floor is about 0.11, which leaves 7 above it.
EPSILONS = (0.5, 0.4, 0.3, 0.25, 0.2, 0.16, 0.13, 0.1, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01)
MIN_FIT_POINTS = 4  # no slope is fitted through fewer epsilons reached than this


def check_design(generations: int, epsilons=EPSILONS) -> None:
    """ConfigError unless generations >= 2 and every epsilon is in (0, 1)."""
    if generations < 2:
        raise ConfigError(f"theorem6: generations must be >= 2 (got {generations})")
    if any(not 0 < e < 1 for e in epsilons):
        raise ConfigError(f"theorem6: every epsilon must be in (0, 1) (got {list(epsilons)})")


def run_theorem6(cfg: SDCEConfig, out: Path, generations: int = 60, epsilons=EPSILONS) -> dict:
    """Run the continuum PMIR for `generations` generations and measure iterations to each epsilon."""
    check_design(generations, epsilons)
    result = solve_meanfield(cfg.replace(regime="pmir", generations=generations))
    curves = {k: np.asarray(result[f"learning_{k}"], float).ravel() for k in OBSERVABLES}
    distance, floor, iterations = iterations_to_epsilon(curves, epsilons)
    eps = np.asarray(epsilons, float)
    ok = np.array([i is not None and i > 0 for i in iterations])
    steps = np.array([np.nan if i is None else i for i in iterations], float)
    points = int(ok.sum())
    slope = float(np.polyfit(np.log(eps[ok]), np.log(steps[ok]), 1)[0]) if points >= MIN_FIT_POINTS else None
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"epsilon": eps, "iterations": pd.array(iterations, dtype="Int64"),
                          "reached": [i is not None for i in iterations]})
    write_text_atomic(out / "theorem6.csv", table.to_csv(index=False))
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.semilogy(np.arange(1, len(distance) + 1), np.maximum(distance, 1e-12))
    ax1.axhline(floor, color="0.5", ls=":", label=f"oscillation floor {floor:.3f}")
    ax1.set(title="distance to the SDCE (relative, max over observables)", xlabel="market round (iteration)",
            ylabel="relative distance to the ε-SDCE")
    fitted = f"slope {slope:.2f}" if slope is not None else f"no slope (< {MIN_FIT_POINTS} points)"
    ax2.loglog(eps[ok], steps[ok], "o-", label=f"measured ({points} ε reached), {fitted}")
    if ok.any():
        ax2.loglog(eps[ok], steps[ok][0] * (eps[ok] / eps[ok][0]) ** CLAIMED_SLOPE, "--", color="0.5",
                   label="claimed slope -2")
    missed = np.array([i is None for i in iterations])
    if missed.any():  # every epsilon not reached lies below the floor
        ax2.axvspan(eps[missed].min(), floor, color="0.9",
                    label=f"{int(missed.sum())} ε not reached within T = {generations}")
    ax2.set(title="Theorem 6: iterations to an ε-SDCE", xlabel="ε", ylabel="iterations")
    figure_legend(fig)
    save_figure_atomic(fig, out / "theorem6.png", 110)
    return {"epsilon": eps.tolist(), "iterations": iterations, "slope": slope, "fitted_points": points,
            "min_fit_points": MIN_FIT_POINTS, "claimed_slope": CLAIMED_SLOPE, "rounds": int(len(distance)),
            "generations": generations, "epsilon_floor": floor}


def describe_theorem6(result: dict) -> str:
    """One line of `run_theorem6`'s result: iterations by epsilon (or not reached), and the slope with its points."""
    pairs = ", ".join(f"ε = {e:g}: {'not reached' if i is None else i}"
                      for e, i in zip(result["epsilon"], result["iterations"]))
    missed = sum(i is None for i in result["iterations"])
    floor = (f"; {missed} ε not reached within T = {result['generations']} generations ({result['rounds']} rounds): "
             f"the dynamics keep an oscillation of {result['epsilon_floor']:.3f} (relative) around the ε-SDCE"
             if missed else "")
    slope = (f"fitted slope of log iterations on log ε over {result['fitted_points']} ε: {result['slope']:.2f} "
             f"(claimed: {result['claimed_slope']:g})" if result["slope"] is not None else
             f"no slope fitted: {result['fitted_points']} ε reached, fewer than {result['min_fit_points']}")
    return f"Iterations to an ε-SDCE: {pairs}{floor}; {slope}"
