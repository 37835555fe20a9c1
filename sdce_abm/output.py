"""A run folder: `trajectory.csv` (one row per generation), `summary.json` and `trajectory.png` (docs/model.md §10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sdce.atomic import atomic_write, write_text_atomic
from sdce.budget import check_abm
from sdce.config import SDCEConfig
from sdce.economics.welfare import WELFARE_KEYS
from sdce.results import PATHS, Trajectory
from sdce.run_folder import RECORD, claim_folder
from sdce.strict_json import dumps, strict
from sdce_abm.model import SDCEModel
from sdce_abm.plots import plot_learning, plot_trajectory

TRAJECTORY_COLUMNS = ("rho", "quality", "price", "provenance", "kl", "w2", "w2_moments", *WELFARE_KEYS)


def trajectory(model: SDCEModel) -> pd.DataFrame:
    """One row per generation 0..t: the model reporters, quantiles of provenance phi (`SDCEModel.provenance_path`),
    and each trainer's quality and fidelity D_j (`quality_j<k>`, `fidelity_j<k>`)."""
    reporters = model.datacollector.get_model_vars_dataframe()
    frame = reporters[[*TRAJECTORY_COLUMNS, *(["intermediary_formed"] if "intermediary_formed" in reporters else [])]
                      ].copy()
    frame.index.name = "generation"
    phi = np.stack(model.provenance_path().to_numpy())
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
    formed = frame["intermediary_formed"].astype(bool).tolist() if "intermediary_formed" in frame else None
    return Trajectory(**paths, welfare=welfare, w2_probe_floor=model.w2_floor, numerics=dict(model.numerics),
                      config=cfg.model_dump(mode="json"), seed=model.seed, intermediary_formed=formed)


def run_record(cfg: SDCEConfig, seed: int) -> dict:
    """What a run folder of `sdce run` belongs to (`sdce.run_folder`)."""
    return {"command": "sdce run", "config": cfg.model_dump(mode="json"), "seed": seed}


def claim_run_folder(out: Path, cfg: SDCEConfig, seed: int, force: bool = False) -> None:
    """Make `out` the folder of this run before any work: refused if it holds another run (unless `force`, which
    clears it); a finished summary of an earlier try of the same run is removed, so that a new partial
    trajectory never sits beside it."""
    claim_folder(out, run_record(cfg, seed), RECORD, "a run", force=force)
    (Path(out) / "summary.json").unlink(missing_ok=True)


def finished_summary(folder: Path, cfg: SDCEConfig, seed: int) -> Trajectory | None:
    """The summary in `folder` when it is a finished run of `cfg` and `seed` (a rerun of `sdce regimes` reuses it),
    else None (also when the file is damaged: the run is then made again)."""
    done = folder / "summary.json"
    if not done.exists():
        return None
    try:
        previous = json.loads(done.read_text())
        same = strict(previous["config"]) == strict(cfg.model_dump(mode="json")) and previous["seed"] == seed
        return Trajectory.from_json(previous) if same else None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        return None


def _write_csv(path: Path, frame: pd.DataFrame, index: bool) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=index))


def run_to_folder(cfg: SDCEConfig, seed: int, out: Path, on_generation: Callable[[int], None] | None = None,
                  force: bool = False) -> Trajectory:
    """Claim `out` for this run (`claim_run_folder`), build the model and step it to its horizon, rewriting
    `trajectory.csv` (and PMIR's `learning.csv`) atomically after each generation, then write `summary.json`
    (last: its presence marks a finished run) and the figures. Returns the summary."""
    check_abm(cfg)  # before the claim, which removes an earlier try's summary
    claim_run_folder(out, cfg, seed, force)
    model = SDCEModel(config=cfg, seed=seed)
    csv, learning = out / "trajectory.csv", out / "learning.csv"

    def write() -> None:
        _write_csv(csv, trajectory(model), True)
        if model.learning_curves:
            _write_csv(learning, pd.DataFrame(model.learning_curves), False)

    write()
    while model.running:
        model.step()
        write()
        if on_generation is not None:
            on_generation(model.steps)
    result = summary(model)
    plot_trajectory(trajectory(model), model.provenance_path(), model.w2_floor,
                    f"{cfg.regime}: N={cfg.n_producers}, M={cfg.n_trainers}, $\\tau$={cfg.temperature}, "
                    f"rule={cfg.learning_rule}, seed={model.seed}", out / "trajectory.png")
    if model.learning_curves:
        plot_learning(pd.DataFrame(model.learning_curves), out / "learning.png")
    write_text_atomic(out / "summary.json", dumps(result.to_json(), indent=1))
    return result
