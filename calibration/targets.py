"""Target moments for structural calibration (docs/model.md §12, "Target moments"): the target file, the paper's
targets, and the same moments computed by the continuum (`meanfield.solve.solve_meanfield`) at a configuration.

A target file is a CSV with columns `moment,value,se`. A moment is `KIND:REGIME`, at generation T of the
continuum under that regime without a policy:

- `rho_T`, `quality_T`, `welfare_T`, `w2_T`: rho_T (eq. 1), mean quality Q_T, welfare W_T (Theorem 2) and
  W2(q̄_T, p) (exact between the Gaussian mixtures);
- `quality_rel`: Q_T over the `unregulated` Q_T; `delta_welfare`: W_T − W_T(`unregulated`) (Table III's columns).

and `q_ratio:rho=R:t=T` is Q_t/Q_0 with rho held fixed at R (`fixed_rho`: every unit (1 − R) human, producers do not
choose) under `unregulated`, where every trainer uses all content: Table IV's design.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from sdce.atomic import save_figure_atomic
from sdce.config import REGIMES, SDCEConfig
from sdce.errors import ConfigError
from sdce.figures import figure_legend
from sdce.paper.published import STATED, TABLE_III, TABLE_IV, TABLE_IV_GENERATIONS, TABLE_IV_RHOS

LEVELS = {"rho_T": "rho", "quality_T": "quality", "welfare_T": "W", "w2_T": "w2"}
RELATIVE = ("quality_rel", "delta_welfare")
FIXED_RHO = "q_ratio"
KINDS = (*LEVELS, *RELATIVE, FIXED_RHO)
COLUMNS = ("moment", "value", "se")
PAPER_SEEDS = 32  # Table III: means over the paper's 32 replications


@dataclass(frozen=True)
class Target:
    """One target moment: its name, value and standard error (> 0)."""

    moment: str
    value: float
    se: float


class Moment(NamedTuple):
    """A parsed moment name: its kind and the run it reads (the regime; rho held fixed and the generation for
    `q_ratio`, None otherwise)."""

    kind: str
    regime: str
    rho: float | None = None
    t: int | None = None


def parse_moment(name: str) -> Moment:
    """The `Moment` of a name `KIND:REGIME` or `q_ratio:rho=R:t=T` (0 < R <= 1, T >= 1 an integer); ConfigError
    naming the allowed forms."""
    kind, sep, rest = name.partition(":")
    if kind == FIXED_RHO:
        parts = dict(part.partition("=")[::2] for part in rest.split(":"))
        try:
            rho, t = float(parts.pop("rho")), int(parts.pop("t"))
        except (KeyError, ValueError):
            rho = t = None
        if rho is None or parts or not (0 < rho <= 1) or t < 1:
            raise ConfigError(f"moment {name!r}: expected q_ratio:rho=R:t=T with 0 < R <= 1 (at R = 0 no input is "
                              f"synthetic, so Q_0 = 0 by eq. (2)) and an integer T >= 1")
        return Moment(kind, "unregulated", rho, t)
    if not sep or kind not in KINDS or rest not in REGIMES:
        raise ConfigError(f"moment {name!r}: expected KIND:REGIME with KIND one of {', '.join(KINDS[:-1])} and REGIME "
                          f"one of {', '.join(REGIMES)}, or q_ratio:rho=R:t=T")
    return Moment(kind, rest)


def _number(text: str, column: str, row: int) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"targets row {row}: {column} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"targets row {row}: {column} must be finite, got {text!r}")
    return value


def parse_targets(text: str, source: str = "targets") -> list[Target]:
    """Targets from CSV text (`moment,value,se`): every row checked before any work (known moment, finite numbers,
    se > 0, no moment twice)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{source}: missing column(s) {', '.join(missing)}; a target file has columns "
                          f"{','.join(COLUMNS)}")
    targets, seen = [], set()
    for row, record in enumerate(reader, start=2):
        name = (record["moment"] or "").strip()
        parse_moment(name)
        if name in seen:
            raise ConfigError(f"{source} row {row}: moment {name!r} appears twice")
        seen.add(name)
        se = _number(record["se"], "se", row)
        if se <= 0:
            raise ConfigError(f"{source} row {row}: se must be > 0, got {record['se']!r}")
        targets.append(Target(name, _number(record["value"], "value", row), se))
    if not targets:
        raise ConfigError(f"{source}: no targets (a header and at least one row)")
    return targets


def load_targets(path: Path) -> list[Target]:
    """`parse_targets` of a file; a missing or unreadable file is a ConfigError."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"targets: cannot read {path}: {exc}") from None
    return parse_targets(text, str(path))


def paper_targets() -> list[Target]:
    """Table III's cells (rho_T, w2_T, quality_rel and delta_welfare by regime; the `unregulated` quality_rel and
    delta_welfare are 1 and 0 by definition and left out) and Table IV's (q_ratio by rho and t) as targets. The paper
    gives no standard errors; it states a coefficient of variation below 5% over its 32 seeds
    (`STATED['table3_cv']`), so the s.e. of a cell mean is taken as that bound, 0.05 |value| / sqrt(32). The bound
    is stated for Table III; Table IV's cells are the same replications' means and get the same rule."""
    cv = STATED["table3_cv"]["max"]
    cells = {"rho_T": "rho", "w2_T": "w2", "quality_rel": "q_rel", "delta_welfare": "dw"}
    table3 = [(f"{kind}:{regime}", value) for regime, row in TABLE_III.items() for kind, field in cells.items()
              if (value := getattr(row, field)) != 0 and not (regime == "unregulated" and kind in RELATIVE)]
    table4 = [(f"{FIXED_RHO}:rho={rho:g}:t={t}", TABLE_IV[t][j]) for j, rho in enumerate(TABLE_IV_RHOS)
              for t in TABLE_IV_GENERATIONS]
    return [Target(name, value, cv * abs(value) / math.sqrt(PAPER_SEEDS)) for name, value in table3 + table4]


def model_moments(cfg: SDCEConfig, names: list[str], type_nodes: int | None = None) -> dict[str, float]:
    """The moments `names` computed by the continuum at `cfg` (`meanfield.solve.solve_meanfield`, NumPy, with
    `type_nodes` quantiles per type dimension when given): one solve per run needed (per regime, the `unregulated`
    one too for relative moments, and per fixed rho), without a policy."""
    from meanfield.solve import solve_meanfield

    parsed = {name: parse_moment(name) for name in names}
    finals = {}
    for run in sorted({moment_run(m) for m in parsed.values()} | needed_baseline(parsed.values()), key=str):
        result = solve_meanfield(run_config(cfg, run, max_generation(parsed.values(), run)), type_nodes=type_nodes)
        finals[run] = {key: np.asarray(result[key], float) for key in LEVELS.values()}
    return {name: evaluate_moment(m, lambda run, key, t=-1: finals[run][key][t]) for name, m in parsed.items()}


def moment_run(m: Moment) -> tuple[str, float | None]:
    """The continuum run a moment reads: (regime, fixed rho or None)."""
    return m.regime, m.rho


def needed_baseline(moments) -> set:
    """The `unregulated` run, if a relative moment needs it."""
    return {("unregulated", None)} if any(m.kind in RELATIVE for m in moments) else set()


def max_generation(moments, run) -> int | None:
    """The last generation a fixed-rho run must reach (None: the configuration's T)."""
    ts = [m.t for m in moments if moment_run(m) == run and m.t is not None]
    return max(ts) if ts else None


def run_config(cfg: SDCEConfig, run: tuple[str, float | None], generations: int | None) -> SDCEConfig:
    """The configuration of a run: its regime, no policy, rho held fixed if it is a fixed-rho run, and at least
    `generations` generations."""
    regime, rho = run
    changes = {"regime": regime, "policy": "none", "fixed_rho": rho}
    if generations is not None:
        changes["generations"] = max(cfg.generations, generations)
    return cfg.replace(**changes)


def evaluate_moment(m: Moment, final):
    """The moment from `final(run, key, t=-1)`, a run's series `key` (rho, quality, W, w2) at generation t; NumPy or
    JAX alike."""
    if m.kind == FIXED_RHO:
        return final(moment_run(m), "quality", m.t) / final(moment_run(m), "quality", 0)
    if m.kind == "quality_rel":
        return final(moment_run(m), "quality") / final(("unregulated", None), "quality")
    if m.kind == "delta_welfare":
        return final(moment_run(m), "W") - final(("unregulated", None), "W")
    return final(moment_run(m), LEVELS[m.kind])


def compare_moments(targets: list[Target], moments: dict[str, float]) -> list[dict]:
    """Each target beside its model moment, with z = (model − target) / se."""
    return [{"moment": t.moment, "target": t.value, "se": t.se, "model": moments[t.moment],
             "z": (moments[t.moment] - t.value) / t.se} for t in targets]


def plot_moments(rows: list[dict], title: str, path: Path) -> None:
    """z of every moment, with the |z| = 2 band, on a symmetric log axis (linear within |z| <= 2; docs/figures.md)."""
    fig = Figure(figsize=(8, 0.32 * len(rows) + 2.0), layout="constrained")
    ax = fig.subplots()
    ax.axvspan(-2, 2, color="0.9", label=r"$|z| \leq 2$")
    ax.plot([r["z"] for r in rows], range(len(rows)), "o", color="C0", label="continuum at the configuration")
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_yticks(range(len(rows)), [r["moment"] for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=2)
    reach = max(4.0, *(1.5 * abs(r["z"]) for r in rows))
    ax.set_xlim(-reach, reach)
    ax.set(title=title, xlabel=r"$z = (\mathrm{model} - \mathrm{target})\,/\,\mathrm{se}$", ylabel="moment")
    figure_legend(fig)
    save_figure_atomic(fig, path, 110)
