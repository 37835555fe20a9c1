"""`sdce policy sweep`: welfare against the level of a subsidy or a watermark, beside the closed form (10) or (12).

Each (level, seed) is one ABM run to the horizon; its generation-T outcomes are written to DIR/sweep.csv as soon
as it finishes (atomically, checksummed: `sdce.result_log`), and a rerun with the same configuration skips the runs
already there (DIR/config.json guards this). The welfare-maximizing level is the grid level with the highest mean
W_T over seeds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic
from sdce.config import SDCEConfig
from sdce.errors import ConfigError
from sdce.figures import figure_legend
from sdce.result_log import appended, read_log, write_log
from sdce.run_folder import claim_folder

SWEPT = {"subsidy": "subsidy", "watermark": "watermark"}
OUTCOMES = ("rho", "quality", "W", "W_realized", "policy_cost")
COLUMNS = ("level", "seed", *OUTCOMES)  # sweep.csv


def sweep_levels(cfg: SDCEConfig, policy: str, levels: Sequence[float] | None) -> tuple[list[float], float | None]:
    """The levels to sweep and the closed form beside them: s* (eq. 10) or w* (eq. 12) at the SDCE of `cfg`, None
    where there is none; without `levels`, 7 from 0 to 3 times the closed form."""
    from meanfield.equilibrium import closed_form_policy_levels

    if policy not in SWEPT:
        raise ConfigError(f"--policy must be subsidy or watermark, got {policy!r}")
    if levels is not None:
        bad = [v for v in levels if not (math.isfinite(v) and v >= 0)]
        if not levels or bad or len(set(levels)) < len(levels):
            raise ConfigError(f"--levels: expected distinct finite numbers >= 0, got {list(levels)}")
    try:
        closed_form = closed_form_policy_levels(cfg)["s_star" if policy == "subsidy" else "w_star"]
    except ConfigError as exc:
        if levels is None:
            raise ConfigError(f"no closed form to centre the default levels on ({exc}); give --levels") from None
        closed_form = None
    grid = list(levels) if levels is not None else np.linspace(0.0, 3.0 * closed_form, 7).tolist()
    return grid, closed_form


def policy_sweep(cfg: SDCEConfig, policy: str, levels: Sequence[float], seeds: Sequence[int], out: Path,
                 closed_form: float | None = None, on_run: Callable[[], None] | None = None,
                 force: bool = False) -> dict:
    """Run the grid, write sweep.csv and sweep.png, and return the summary by level and the argmax."""
    from sdce_abm.model import SDCEModel

    if policy not in SWEPT:
        raise ConfigError(f"policy sweep: --policy must be subsidy or watermark, got {policy!r}")
    if not levels or min(levels) < 0:
        raise ConfigError(f"policy sweep: levels must be a non-empty list of numbers >= 0, got {list(levels)}")
    if not seeds:
        raise ConfigError("policy sweep: seeds must be >= 1")
    base = cfg.replace(policy=policy)
    out = Path(out)
    claim_folder(out, {"config": base.model_dump(mode="json"), "policy": policy}, "config.json", "a sweep", force=force)
    csv = out / "sweep.csv"
    done = read_log(csv, COLUMNS)
    finished = set(zip(done["level"].round(12), done["seed"]))
    for level in levels:
        for seed in seeds:
            if (round(float(level), 12), int(seed)) not in finished:
                model = SDCEModel(config=base.replace(**{SWEPT[policy]: float(level)}), seed=int(seed))
                model.run_model()
                last = model.datacollector.get_model_vars_dataframe().iloc[-1]
                row = pd.DataFrame([{"level": float(level), "seed": int(seed),
                                     **{k: float(last[k]) for k in OUTCOMES}}])
                done = appended(done, row)
                write_log(csv, done)
            if on_run is not None:
                on_run()
    frame = done[done["level"].round(12).isin([round(float(v), 12) for v in levels])
                  & done["seed"].isin(list(seeds))]
    by_level = frame.groupby("level")[list(OUTCOMES)].agg(["mean", "std"])
    best = float(by_level[("W", "mean")].idxmax())
    plot_sweep(by_level, policy, best, closed_form, out / "sweep.png", len(seeds))
    return {
        "policy": policy, "regime": cfg.regime, "levels": [float(v) for v in by_level.index],
        **{f"{k}_mean": by_level[(k, "mean")].tolist() for k in OUTCOMES},
        "W_sd": by_level[("W", "std")].fillna(0.0).tolist(), "best_level": best, "closed_form": closed_form,
        "seeds": [int(s) for s in seeds], "path": str(csv),
    }


def plot_sweep(by_level: pd.DataFrame, policy: str, best: float, closed_form: float | None, path: Path,
               seeds: int | None = None) -> None:
    """W_T (mean ± sd over the `seeds` seeds) and realized W_T against the level, with the swept optimum and the
    closed form (eq. 10 or 12)."""
    fig = Figure(figsize=(6.5, 4.6), layout="constrained")
    ax = fig.subplots()
    x = by_level.index.to_numpy()
    mean, sd = by_level[("W", "mean")].to_numpy(), np.nan_to_num(by_level[("W", "std")].to_numpy())
    ax.plot(x, mean, "o-", label=r"$W_T$ (Theorem 2): mean")
    ax.fill_between(x, mean - sd, mean + sd, alpha=0.2, label=r"$W_T$: mean $\pm$ 1 sd over seeds")
    ax.plot(x, by_level[("W_realized", "mean")], "s--", label=r"realised $W_T$: mean")
    ax.axvline(best, color="tab:green", ls=":", label=f"swept optimum {best:.4g}")
    if closed_form is not None:
        name = "$s^*$" if policy == "subsidy" else "$w^*$"
        ax.axvline(closed_form, color="tab:red", ls="--", label=f"{name} (eq. {10 if policy == 'subsidy' else 12}) "
                                                              f"= {closed_form:.4g}")
    symbol = "$s$" if policy == "subsidy" else "$w$"
    runs = "" if seeds is None else f", {seeds} seeds per level"
    ax.set(xlabel=f"{policy} level {symbol}", ylabel=r"$W_T$ (per unit of $V$)",
           title=f"policy sweep: {policy}{runs}")
    figure_legend(fig, ncols=2)
    save_figure_atomic(fig, path, 120)
