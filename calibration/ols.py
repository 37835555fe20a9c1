"""Reduced-form collapse law, eq. (13)/(15) of the paper, by OLS with Newey-West (HAC) errors through statsmodels.

    log M_t(rho) = a0 + slope * t rho^2 + u_{t,rho}                                    eq. (13), eq. (15)

M is one metric of a panel (perplexity in eq. (13), relative quality Q_t/Q_0 in eq. (15)). We report
b = direction * slope, so b > 0 always means collapse: eq. (13) has b = slope, eq. (15) (log Q = log Q_0 - 0.183 t
rho^2) has b = -slope = 0.183. Source: Lundström-Imanov (2026), *The Economics of Model Collapse*,
arXiv:2605.20279v1, Sections VI and VIII; docs/model.md §12.

A panel is a long table with columns rho, generation, metric, value (required) and domain, seed (optional).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.sandwich_covariance import weights_bartlett

from sdce.errors import ConfigError

# +1: collapse raises the metric (higher is worse); -1: collapse lowers it (higher is better).
METRIC_DIRECTION: Mapping[str, int] = MappingProxyType(
    {
        "perplexity": +1,
        "nll": +1,
        "frechet": +1,
        "concentration": +1,
        "train_loss": +1,
        "relative_quality": -1,
        "quality": -1,
        "tail_coverage": -1,
    }
)

REQUIRED_COLUMNS: tuple[str, ...] = ("rho", "generation", "metric", "value")
DEFAULT_METRICS: tuple[str, ...] = ("relative_quality", "perplexity", "frechet", "concentration")


class PanelError(ConfigError):
    """A panel is unreadable, malformed, or cannot identify the collapse law."""


# -- reading and validating ------------------------------------------------------------------------------------------


def load_panel(path: str | Path) -> pd.DataFrame:
    """Read a panel CSV and validate it (see `validate_panel`); PanelError names the file and the problem."""
    p = Path(path)
    if not p.exists():
        raise PanelError(f"panel file not found: {p}")
    if not p.is_file():
        raise PanelError(f"panel path is not a file: {p}")
    try:
        frame = pd.read_csv(p)
    except pd.errors.EmptyDataError:
        raise PanelError(f"panel file is empty: {p}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = " ".join(str(exc).split())
        raise PanelError(f"malformed CSV in {p}: {msg}") from None
    return validate_panel(frame, source=str(p))


def validate_panel(panel: pd.DataFrame, *, source: str = "panel") -> pd.DataFrame:
    """Check a panel and return a clean copy (domain/seed filled with "panel"/0; numeric columns typed).

    Raises PanelError for: not a DataFrame, no rows, a missing required column, missing or non-numeric
    rho/generation/seed/value, non-finite values, rho outside [0, 1], generation < 0 or not an integer.
    """
    if not isinstance(panel, pd.DataFrame):
        raise PanelError(f"{source}: expected a pandas DataFrame, got {type(panel).__name__}")
    if len(panel) == 0:
        raise PanelError(f"{source}: panel is empty (no rows)")
    missing = [c for c in REQUIRED_COLUMNS if c not in panel.columns]
    if missing:
        raise PanelError(f"{source}: missing required column(s) {', '.join(missing)}; "
                         f"have {', '.join(map(str, panel.columns))}")
    df = panel.copy()
    if "domain" not in df.columns:
        df["domain"] = "panel"
    if "seed" not in df.columns:
        df["seed"] = 0
    for col in ("rho", "generation", "seed", "value"):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise PanelError(f"{source}: column {col!r} has {int(bad.sum())} missing, non-numeric or non-finite "
                             f"entr{'y' if bad.sum() == 1 else 'ies'} (first: {df[col].iloc[i]!r} at row {i})")
        df[col] = num.astype(float)
    if df["metric"].isna().any():
        i = int(np.flatnonzero(df["metric"].isna().to_numpy())[0])
        raise PanelError(f"{source}: column 'metric' has a missing entry at row {i}")
    df["metric"] = df["metric"].astype(str)
    out = (df["rho"] < 0) | (df["rho"] > 1)
    if out.any():
        i = int(np.flatnonzero(out.to_numpy())[0])
        raise PanelError(f"{source}: rho must lie in [0, 1]; got {df['rho'].iloc[i]!r} at row {i}")
    for col in ("generation", "seed"):
        v = df[col]
        if (v != np.round(v)).any():
            i = int(np.flatnonzero((v != np.round(v)).to_numpy())[0])
            raise PanelError(f"{source}: {col} must be an integer; got {v.iloc[i]!r} at row {i}")
        df[col] = v.astype(np.int64)
    if (df["generation"] < 0).any():
        i = int(np.flatnonzero((df["generation"] < 0).to_numpy())[0])
        raise PanelError(f"{source}: generation must be >= 0; got {df['generation'].iloc[i]} at row {i}")
    return df


def _choose_metric(df: pd.DataFrame, metric: str | None, source: str) -> str:
    present = list(dict.fromkeys(df["metric"]))
    if metric is None:
        candidates = [m for m in present if m != "train_loss"]
        if len(candidates) == 1:
            metric = candidates[0]
        else:
            metric = next((m for m in DEFAULT_METRICS if m in present), None)
            if metric is None:
                raise PanelError(f"{source}: cannot choose a metric; the panel has {', '.join(present)}. "
                                 f"Pass metric= one of them")
    if metric not in METRIC_DIRECTION:
        raise PanelError(f"{source}: unknown metric {metric!r}: its direction is not known "
                         f"(known: {', '.join(METRIC_DIRECTION)})")
    if metric not in present:
        raise PanelError(f"{source}: metric {metric!r} is not in the panel (present: {', '.join(present)})")
    return metric


def _cells(panel: pd.DataFrame, metric: str | None, min_generation: int, source: str) -> tuple[pd.DataFrame, str]:
    """One row per (rho, generation) cell: mean over seeds of log(value), and x = t rho^2; sorted by rho, t."""
    df = validate_panel(panel, source=source)
    metric = _choose_metric(df, metric, source)
    sub = df[(df["metric"] == metric) & (df["generation"] >= min_generation)]
    if sub.empty:
        raise PanelError(f"{source}: no rows of metric {metric!r} with generation >= {min_generation}")
    nonpos = sub["value"] <= 0
    if nonpos.any():
        r = sub[nonpos].iloc[0]
        raise PanelError(f"{source}: metric {metric!r} has {int(nonpos.sum())} non-positive value(s), log undefined "
                         f"(first: {r['value']!r} at rho={r['rho']}, generation={r['generation']})")
    sub = sub.assign(rho=sub["rho"].round(12), logv=np.log(sub["value"].to_numpy(dtype=float)))
    cells = (sub.groupby(["rho", "generation"], as_index=False)["logv"].mean()
             .sort_values(["rho", "generation"], kind="stable").reset_index(drop=True))
    cells["x"] = cells["generation"] * cells["rho"] ** 2
    if len(cells) < 3:
        raise PanelError(f"{source}: need at least 3 (rho, generation) cells for metric {metric!r}, got {len(cells)}")
    if np.ptp(cells["x"].to_numpy()) <= 1e-12 * max(1.0, float(cells["x"].abs().max())):
        raise PanelError(f"{source}: t*rho^2 does not vary across the cells of metric {metric!r}; slope not identified")
    return cells, metric


# -- estimation ------------------------------------------------------------------------------------------------------


def newey_west_lags(n: int) -> int:
    """Newey-West (1994) automatic bandwidth floor(4 (n/100)^(2/9)) (also statsmodels' default)."""
    return math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0))


def _lags(n: int, maxlags: int | None) -> tuple[int, str]:
    if maxlags is None:
        lag = newey_west_lags(n)
        return lag, f"Newey-West (1994): floor(4 (n/100)^(2/9)) = {lag}, Bartlett kernel"
    if isinstance(maxlags, bool) or not isinstance(maxlags, (int, np.integer)) or not 0 <= maxlags < n:
        raise ConfigError(f"maxlags must be an integer in [0, n-1] = [0, {n - 1}], got {maxlags!r}")
    return int(maxlags), f"user-specified maxlags = {int(maxlags)}, Bartlett kernel"


def _fit(y: np.ndarray, X: np.ndarray, lag: int):
    """(HAC fit, plain OLS fit). HAC pinned to statsmodels' OLS defaults: Bartlett, no small-sample correction."""
    hac = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": lag, "weights_func": weights_bartlett,
                                                     "use_correction": False})
    return hac, sm.OLS(y, X).fit()


def collapse_law_ols(panel: pd.DataFrame, metric: str | None = None, *, min_generation: int = 1,
                     maxlags: int | None = None) -> dict:
    """Estimate eq. (13)/(15), log M_t(rho) = a0 + slope t rho^2 + u, by OLS with Newey-West HAC standard errors.

    As in the paper, one observation per (rho, t) cell: log(value) is averaged over seeds (and any repeated rows)
    within a cell, rows with generation < `min_generation` are dropped, and the cells are ordered by rho, then t,
    so the HAC lag window runs along t within each rho (the last t of one rho and the first t of the next are
    treated as neighbours, as in a single pooled series).

    `metric=None` picks the panel's only metric other than train_loss, else the first present of
    relative_quality, perplexity, frechet, concentration.

    Inference: statsmodels `OLS.fit(cov_type="HAC")`, Bartlett weights 1 - l/(L+1), L = `maxlags` or the
    Newey-West (1994) rule floor(4 (n/100)^(2/9)). Small-sample correction: statsmodels' default for OLS HAC,
    i.e. none — the sandwich (X'X)^-1 S (X'X)^-1 is not rescaled by n/(n-k) (`use_correction=False`), and the
    p-value is two-sided from the standard normal (`use_t=False`). `se_ols` is the classical s.e. (s^2 (X'X)^-1).

    Returns a plain dict: metric, direction, b (= direction * slope; b > 0 means collapse, so for
    relative_quality b = -slope as in eq. (15)), slope, intercept, se_hac, se_ols, t_stat, p_value, r2, n, maxlags,
    lag_rule, min_generation.
    """
    cells, metric = _cells(panel, metric, min_generation, "panel")
    direction = METRIC_DIRECTION[metric]
    n = len(cells)
    lag, rule = _lags(n, maxlags)
    X = np.column_stack([np.ones(n), cells["x"].to_numpy(dtype=float)])
    hac, ols = _fit(cells["logv"].to_numpy(dtype=float), X, lag)
    slope = float(hac.params[1])
    return {
        "metric": metric,
        "direction": int(direction),
        "b": float(direction * slope),
        "slope": slope,
        "intercept": float(hac.params[0]),
        "se_hac": float(hac.bse[1]),
        "se_ols": float(ols.bse[1]),
        "t_stat": float(hac.tvalues[1]),
        "p_value": float(hac.pvalues[1]),
        "r2": float(hac.rsquared),
        "n": int(n),
        "maxlags": int(lag),
        "lag_rule": rule,
        "min_generation": int(min_generation),
    }


def pooled_fixed_effects(panels: Mapping[str, tuple[pd.DataFrame, str | None]], *, min_generation: int = 1,
                         maxlags: int | None = None) -> dict:
    """Pooled fixed-effects estimate of the collapse exponent across sources (Table II, last row).

    Each source s contributes its cells (as in `collapse_law_ols`) with y = direction_s * mean log value, so every
    source's slope has the collapse sign; then y = alpha_s + b * t rho^2 + u with one intercept per source and a
    common b, by OLS with Newey-West HAC errors over the stacked cells ordered by source name, rho, t (inference
    settings as in `collapse_law_ols`). b > 0 means collapse; with one source, b, se_hac, r2 equal
    `collapse_law_ols`'s.

    Returns a plain dict: b, se_hac, se_ols, t_stat, p_value, r2 (the *within* R^2: 1 - SSR / sum of squared
    deviations of y from its source mean), r2_overall (1 - SSR / squared deviations from the grand mean), n,
    maxlags, lag_rule, min_generation, sources ({name: {metric, direction, n, intercept}}, the intercept alpha_s
    being on the y = direction * log scale).
    """
    if not isinstance(panels, Mapping) or not panels:
        raise PanelError("pooled_fixed_effects: need a non-empty mapping {source: (panel, metric)}")
    names = sorted(panels, key=str)
    stacks, sources = [], {}
    for name in names:
        entry = panels[name]
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise PanelError(f"source {name!r}: expected a (panel, metric) tuple")
        cells, metric = _cells(entry[0], entry[1], min_generation, f"source {name!r}")
        direction = METRIC_DIRECTION[metric]
        stacks.append(cells.assign(y=direction * cells["logv"], source=str(name)))
        sources[str(name)] = {"metric": metric, "direction": int(direction), "n": len(cells)}
    data = pd.concat(stacks, ignore_index=True)
    n = len(data)
    lag, rule = _lags(n, maxlags)
    dummies = np.column_stack([(data["source"] == str(s)).to_numpy(dtype=float) for s in names])
    X = np.column_stack([data["x"].to_numpy(dtype=float), dummies])
    y = data["y"].to_numpy(dtype=float)
    hac, ols = _fit(y, X, lag)
    ssr = float(np.sum(hac.resid ** 2))
    within_tss = float(np.sum((y - data.groupby("source")["y"].transform("mean").to_numpy()) ** 2))
    for k, s in enumerate(names):
        sources[str(s)]["intercept"] = float(hac.params[1 + k])
    return {
        "b": float(hac.params[0]),
        "se_hac": float(hac.bse[0]),
        "se_ols": float(ols.bse[0]),
        "t_stat": float(hac.tvalues[0]),
        "p_value": float(hac.pvalues[0]),
        "r2": 1.0 - ssr / within_tss if within_tss > 0 else float("nan"),
        "r2_overall": 1.0 - ssr / float(np.sum((y - y.mean()) ** 2)),
        "n": int(n),
        "maxlags": int(lag),
        "lag_rule": rule,
        "min_generation": int(min_generation),
        "sources": sources,
    }
