"""A run folder: `trajectory.csv` (one row per generation), `summary.json` and `trajectory.png` (docs/model.md §10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sdce.atomic import write_text_atomic
from sdce.config import SDCEConfig
from sdce.economics.welfare import WELFARE_KEYS
from sdce.results import PATHS, Trajectory
from sdce.strict_json import dumps, strict
from sdce_abm.model import SDCEModel
from sdce_abm.plots import plot_learning, plot_trajectory

TRAJECTORY_COLUMNS = ("rho", "quality", "price", "provenance", "kl", "w2", "w2_moments", *WELFARE_KEYS)


def trajectory(model: SDCEModel) -> pd.DataFrame:
    """One row per generation 0..t: the model reporters, quantiles of provenance phi, and each trainer's quality
    and fidelity D_j (`quality_j<k>`, `fidelity_j<k>`)."""
    reporters = model.datacollector.get_model_vars_dataframe()
    frame = reporters[list(TRAJECTORY_COLUMNS)].copy()
    frame.index.name = "generation"
    phi = np.stack(reporters["phi"].to_numpy())
    for q in (10, 50, 90):
        frame[f"provenance_p{q}"] = np.percentile(phi, q, axis=1)
    per_trainer = model.datacollector.get_agenttype_vars_dataframe(type(model.trainers[0]))
    for name in ("quality", "fidelity"):
        wide = per_trainer[name].unstack("AgentID")
        wide.columns = [f"{name}_j{k}" for k in range(wide.shape[1])]
        frame = pd.concat([frame, wide.set_axis(frame.index)], axis=1)
    return frame


def summary(model: SDCEModel) -> Trajectory:
    """The run summary: lists over generations 0..T, final welfare components with the discounted W, config, seed."""
    frame = model.datacollector.get_model_vars_dataframe()
    cfg = model.config
    discount = cfg.discount ** np.arange(len(frame))
    welfare = {k: float(frame[k].iloc[-1]) for k in WELFARE_KEYS}
    welfare["W_discounted"] = float(discount @ frame["W"].to_numpy())
    welfare["W_realized_discounted"] = float(discount @ frame["W_realized"].to_numpy())
    paths = {k: frame["W" if k == "welfare_path" else k].tolist() for k in PATHS}
    return Trajectory(**paths, welfare=welfare, w2_probe_floor=model.w2_floor, numerics=dict(model.numerics),
                      config=cfg.model_dump(mode="json"), seed=model.seed)


def finished_summary(folder: Path, cfg: SDCEConfig, seed: int) -> Trajectory | None:
    """The summary in `folder` when it is a finished run of `cfg` and `seed` (a rerun of `sdce regimes` reuses it),
    else None."""
    done = folder / "summary.json"
    if not done.exists():
        return None
    previous = json.loads(done.read_text())
    if strict(previous["config"]) != strict(cfg.model_dump(mode="json")) or previous["seed"] != seed:
        return None
    return Trajectory.from_json(previous)


def run_to_folder(model: SDCEModel, out: Path, on_generation: Callable[[int], None] | None = None) -> Trajectory:
    """Step the model to its horizon, appending each generation to `trajectory.csv` as it completes, then write
    `summary.json` and `trajectory.png`. Returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    csv, learning = out / "trajectory.csv", out / "learning.csv"
    trajectory(model).to_csv(csv)
    if model.learning_curves:
        pd.DataFrame(model.learning_curves).to_csv(learning, index=False)
    while model.running:
        model.step()
        trajectory(model).iloc[[-1]].to_csv(csv, mode="a", header=False)
        if model.learning_curves:
            pd.DataFrame(model.learning_curves[-model.config.pmir_rounds:]).to_csv(learning, mode="a", header=False,
                                                                                  index=False)
        if on_generation is not None:
            on_generation(model.steps)
    result = summary(model)
    write_text_atomic(out / "summary.json", dumps(result.to_json(), indent=1))
    cfg = model.config
    plot_trajectory(trajectory(model), model.datacollector.get_model_vars_dataframe()["phi"], model.w2_floor,
                    f"{cfg.regime}: N={cfg.n_producers}, M={cfg.n_trainers}, tau={cfg.temperature}, "
                    f"rule={cfg.learning_rule}, seed={model.seed}", out / "trajectory.png")
    if model.learning_curves:
        plot_learning(pd.DataFrame(model.learning_curves), out / "learning.png")
    return result
