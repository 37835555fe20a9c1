"""The ABM against its mean-field limit as N grows (docs/model.md §9, harness).

For each learning rule, the ABM runs at each N over K seeds (samples per unit fixed, so samples ∝ N), and the
continuum market runs once per rule. Per run: max_t |rho_t - rho_t^MF|, max_t MW2(q̄_t, q̄_t^MF) and
max_t |Q_t - Q_t^MF| / Q_t^MF, measured against both limits (the `mle` and the `wgf` one: docs/model.md §2 says they
differ, and which one the ABM follows is the question). Error ∝ N^-a is fitted to the medians over seeds by
least squares on log-log axes, with a bootstrap over seeds for the 95% interval. Each finished run is written to
`DIR/paths.csv` (its path), then to `DIR/runs.csv` (its errors; `sdce.result_log`: atomic, checksummed), so an
interrupted comparison resumes where it stopped: a run is done when runs.csv holds it, and a path left by a run
killed before its errors were written is replaced.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from meanfield.distance import mixture_w2
from meanfield.solve import solve_meanfield
from sdce.atomic import write_text_atomic
from sdce.config import SDCEConfig
from sdce.dataworld.mixture import Mixture
from sdce.errors import ConfigError
from sdce.result_log import appended, read_log, write_log
from sdce.results import Comparison
from sdce.run_folder import RECORD, claim_folder
from sdce.strict_json import dumps

METRICS = ("rho", "w2", "quality")
RUN_COLUMNS = ("key", "rule", "producers", "seed", "limit", *METRICS)  # runs.csv: a run's errors against a limit
PATH_COLUMNS = ("key", "rule", "producers", "seed", "generation", "rho", "quality", "w2")  # paths.csv
RULES = ("mle", "wgf")
BOOTSTRAP = 2000


def _abm_path(cfg: SDCEConfig, seed: int):
    """rho_t, mean Q_t and q̄_t (Gaussian mixtures) of one ABM run."""
    from sdce_abm.model import SDCEModel

    model = SDCEModel(config=cfg, seed=seed)
    rho, quality, public = [model.rho], [model.mean_quality], [model.public_model]
    while model.running:
        model.step()
        rho.append(model.rho)
        quality.append(model.mean_quality)
        public.append(model.public_model)
    return np.array(rho), np.array(quality), public


def _w2_to_p(q, p) -> float:
    return mixture_w2(q.weights, q.means, q.covs, *p)


def _errors(rho, quality, public, limit: dict) -> dict[str, float]:
    w2 = [mixture_w2(q.weights, q.means, q.covs, *(np.asarray(a[t]) for a in limit["public"]))
          for t, q in enumerate(public)]
    return {"rho": float(np.max(np.abs(rho - limit["rho"]))), "w2": float(np.max(w2)),
            "quality": float(np.max(np.abs(quality - limit["quality"]) / limit["quality"]))}


def fit_exponent(producers, errors_by_seed: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Least-squares slope -a of log median error on log N, with a bootstrap over seeds (percentile 95%).
    `errors_by_seed` is (len(producers), seeds)."""
    log_n = np.log(np.asarray(producers, float))

    def slope(errors):
        return -np.polyfit(log_n, np.log(np.median(errors, axis=1)), 1)[0]

    n_seeds = errors_by_seed.shape[1]
    draws = [slope(np.take_along_axis(errors_by_seed, rng.integers(0, n_seeds, errors_by_seed.shape), 1))
             for _ in range(BOOTSTRAP)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"estimate": float(slope(errors_by_seed)), "low": float(low), "high": float(high)}


def _key(cfg: SDCEConfig) -> str:
    return hashlib.sha1(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


def compare(cfg: SDCEConfig, producers: list[int], seeds: int, out: Path, rules=RULES,
            on_run: Callable[[], None] | None = None, force: bool = False) -> Comparison:
    """Run the comparison and write `runs.csv`, `paths.csv`, `errors.png`, `trajectories.png` and `summary.json`
    in `out`. The folder belongs to the configuration apart from N and the rule (`sdce.run_folder`): a rerun with
    more sizes or seeds resumes; `force` clears a folder of another configuration."""
    if cfg.family != "gaussian":
        raise ConfigError("compare: the mean-field limit is in closed form for family='gaussian' only "
                          f"(got family={cfg.family!r})")
    if len(set(producers)) < 2 or min(producers) < 2 or len(set(producers)) < len(producers):
        raise ConfigError(f"compare: producers needs at least two sizes >= 2, all distinct (got {producers}): a rate "
                          "N^-a is fitted across them")
    if seeds < 2:
        raise ConfigError(f"compare: seeds must be >= 2 for a bootstrap over seeds (got {seeds})")
    bad = [r for r in rules if r not in RULES]
    if bad:
        raise ConfigError(f"compare: unknown learning rule(s) {bad}; allowed: {'|'.join(RULES)}")
    shared = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in ("n_producers", "learning_rule")}
    claim_folder(out, {"command": "sdce compare", "config": shared}, RECORD, "a comparison", force=force)
    limits = {rule: solve_meanfield(cfg.replace(learning_rule=rule)) for rule in RULES}
    csv, path_csv = out / "runs.csv", out / "paths.csv"
    done, paths = read_log(csv, RUN_COLUMNS), read_log(path_csv, PATH_COLUMNS)
    for rule in rules:
        for n in producers:
            run_cfg = cfg.replace(learning_rule=rule, n_producers=n)
            key = _key(run_cfg)
            for seed in range(seeds):
                if not ((done["key"] == key) & (done["seed"] == seed)).any():
                    rho, quality, public = _abm_path(run_cfg, seed)
                    drift = [_w2_to_p(q, limits[rule]["p"]) for q in public]
                    path = pd.DataFrame({"key": key, "rule": rule, "producers": n, "seed": seed, "generation":
                                         np.arange(len(rho)), "rho": rho, "quality": quality, "w2": drift})
                    stale = (paths["key"] == key) & (paths["seed"] == seed)  # a run killed before its row
                    paths = appended(paths[~stale], path)
                    write_log(path_csv, paths)
                    frame = pd.DataFrame([{"key": key, "rule": rule, "producers": n, "seed": seed, "limit": lim,
                                           **_errors(rho, quality, public, limits[lim])} for lim in RULES])
                    done = appended(done, frame)
                    write_log(csv, done)
                if on_run is not None:
                    on_run()
    keys = {_key(cfg.replace(learning_rule=r, n_producers=n)) for r in rules for n in producers}
    table = done[done["key"].isin(keys)]
    rng = np.random.default_rng(0)
    by_rule = {}
    for rule in rules:
        by_rule[rule] = {}
        for lim in RULES:
            rows = table[(table["rule"] == rule) & (table["limit"] == lim)].sort_values(["producers", "seed"])
            errors = {m: rows.pivot(index="producers", columns="seed", values=m).loc[producers].to_numpy()
                      for m in METRICS}
            by_rule[rule][lim] = {
                "errors": {m: np.median(errors[m], axis=1).tolist() for m in METRICS},
                "exponent": {m: fit_exponent(producers, errors[m], rng) for m in METRICS},
            }
    main_rule = cfg.learning_rule if cfg.learning_rule in rules else rules[0]
    own = by_rule[main_rule]
    gap = _limit_gap(limits)
    result = Comparison(list(producers), seeds, main_rule, own[main_rule]["errors"], own[main_rule]["exponent"],
                        by_rule, gap, cfg.model_dump(mode="json"))
    write_text_atomic(out / "summary.json", dumps(result.to_json(), indent=1))
    from meanfield.plots import plot_errors, plot_trajectories

    plot_errors(result, out / "errors.png")
    plot_trajectories(paths[paths["key"].isin(keys)], limits, rules, cfg.regime, out / "trajectories.png")
    return result


def _limit_gap(limits: dict) -> dict[str, float]:
    """The harness's metrics between the `wgf` limit (the paper's flow (8)-(9)) and the `mle` limit."""
    a = limits["wgf"]
    public = [Mixture(*(np.asarray(x[t]) for x in a["public"])) for t in range(len(a["rho"]))]
    return _errors(a["rho"], a["quality"], public, limits["mle"])
