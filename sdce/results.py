"""Typed results, as ott-jax's solver outputs: frozen, with `to_json()` (the one JSON object `--json` prints and
the run folders hold) and `to_frame()` (a table to read or save)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TimeAverage:
    """PMIR's epsilon-SDCE (docs/model.md §6): the averaging window and what it says about the time average."""

    unit_price_star: float
    s_star_se: float
    w_star_se: float
    standard_error: dict[str, float]  # of the window mean, by observable
    epsilon: list[float]  # largest relative excursion inside the window, by start
    trend: list[float]  # relative change of the window's trend line, by start
    trend_z: list[float]  # that change in standard errors, by start
    trend_z_tolerance: float
    window: list[int]  # [first, last] generation of start 0's window


@dataclass(frozen=True)
class Equilibrium:
    """The continuum SDCE of one configuration (Definition 1; `meanfield.equilibrium.solve_equilibrium`).

    Start 0 is the market's own generation 0; `unique` says whether every start reached the same prices
    (Theorem 1); `types` holds the equilibrium by producer type (`to_frame()`)."""

    regime: str
    learning_rule: str
    rho_star: float
    quality_star: float
    kl_star: float
    s_star: float  # eq. (10)
    w_star: float  # eq. (12)
    welfare: dict[str, float]
    price_star: dict[str, float]  # mean and p10/p50/p90 over types
    provenance_star: dict[str, float]
    unique: bool
    starts: int
    converged: list[bool]
    generations_to_converge: list[int]
    start_spread: dict[str, float]
    residuals: dict[str, float]
    types: dict[str, np.ndarray]
    time_average: TimeAverage | None = None  # PMIR only

    @property
    def all_converged(self) -> bool:
        return all(self.converged)

    def to_json(self) -> dict:
        """Every field but `types`, with PMIR's time-average fields at the top level."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("types", "time_average")}
        return out | (asdict(self.time_average) if self.time_average is not None else {})

    def to_frame(self) -> pd.DataFrame:
        """Price and provenance by producer type, with the types' parameters and masses."""
        return pd.DataFrame(self.types)


PATHS = ("rho", "quality", "w2", "kl", "w2_moments", "provenance", "price", "welfare_path")
"""The per-generation paths of a `Trajectory`, generations 0..T."""


@dataclass(frozen=True)
class Trajectory:
    """Generations 0..T of one run: the ABM's (`sdce_abm.output.summary`) or the mean field's
    (`meanfield.solve.meanfield_summary`, `level` "meanfield", with its `grid`)."""

    rho: list[float]
    quality: list[float]  # mean over trainers
    w2: list[float]  # W2(q̄_t, p): the ABM's Sinkhorn probe, the mean field's exact value
    kl: list[float]
    w2_moments: list[float]
    provenance: list[float]
    price: list[float]
    welfare_path: list[float]  # W_t
    welfare: dict[str, float]  # generation T's components, and W discounted over 0..T
    w2_probe_floor: float
    numerics: dict[str, int]  # guarded numerics (PMIR's skipped updates and kept prices)
    config: dict
    seed: int | None
    level: str = "abm"
    grid: str | None = None
    intermediary_formed: list[bool] | None = None  # under `intermediary`: whether it formed, by generation (S >= 0)

    def to_json(self) -> dict:
        """The summary `sdce run --json` and `sdce meanfield --json` print (and summary.json holds)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("level", "grid")}
        if self.intermediary_formed is None:
            del out["intermediary_formed"]
        if self.level != "abm":
            out |= {"level": self.level, "grid": self.grid, "learning_rule": self.config["learning_rule"]}
        return out

    @classmethod
    def from_json(cls, value: dict) -> Trajectory:
        """The inverse of `to_json` (a summary.json read back)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in names})

    def to_frame(self) -> pd.DataFrame:
        """The paths by generation (`welfare_path` as column W)."""
        frame = pd.DataFrame({k: getattr(self, k) for k in PATHS}).rename(columns={"welfare_path": "W"})
        return frame.rename_axis("generation")


@dataclass(frozen=True)
class Comparison:
    """The ABM against the mean-field limit as N grows (`meanfield.harness.compare`, docs/model.md §9): medians
    over seeds of each run's largest error over generations, by N, and the fitted rate N^-a."""

    producers: list[int]
    seeds: int
    learning_rule: str  # the ABM rule whose own limit `errors` and `exponent` report
    errors: dict[str, list[float]]  # by metric, one median per N
    exponent: dict[str, dict[str, float]]  # by metric: estimate, low, high (95% bootstrap over seeds)
    by_rule: dict[str, dict[str, dict]]  # ABM rule -> limit -> {"errors", "exponent"}
    limit_gap: dict[str, float]  # the metrics between the wgf and the mle limits
    config: dict

    def to_json(self) -> dict:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per (ABM rule, limit, metric, N): the median error."""
        return pd.DataFrame([{"rule": rule, "limit": limit, "metric": metric, "producers": n, "error": e}
                             for rule, by_limit in self.by_rule.items() for limit, res in by_limit.items()
                             for metric, errors in res["errors"].items() for n, e in zip(self.producers, errors)])
