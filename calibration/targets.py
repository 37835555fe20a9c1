"""Target moments for structural calibration (docs/model.md §12, "Target moments"): the target file, the paper's
targets, and the same moments computed by the continuum (`meanfield.solve.solve_meanfield`) at a configuration.

A target file is a CSV with columns `moment,value,se`. A moment is `KIND:REGIME`, at generation T of the
continuum under that regime without a policy:

- `rho_T`, `quality_T`, `welfare_T`, `w2_T`: rho_T (eq. 1), mean quality Q_T, welfare W_T (Theorem 2) and
  W2(q̄_T, p) (exact between the Gaussian mixtures);
- `quality_rel`: Q_T over the `unregulated` Q_T; `delta_welfare`: W_T − W_T(`unregulated`) (Table III's columns).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from sdce.config import REGIMES, SDCEConfig
from sdce.errors import ConfigError
from sdce.paper.published import STATED, TABLE_III

LEVELS = {"rho_T": "rho", "quality_T": "quality", "welfare_T": "W", "w2_T": "w2"}
RELATIVE = ("quality_rel", "delta_welfare")
KINDS = (*LEVELS, *RELATIVE)
COLUMNS = ("moment", "value", "se")
PAPER_SEEDS = 32  # Table III: means over the paper's 32 replications


@dataclass(frozen=True)
class Target:
    """One target moment: its name, value and standard error (> 0)."""

    moment: str
    value: float
    se: float


def parse_moment(name: str) -> tuple[str, str]:
    """(kind, regime) of a moment name `KIND:REGIME`; ConfigError naming the allowed kinds and regimes."""
    kind, sep, regime = name.partition(":")
    if not sep or kind not in KINDS or regime not in REGIMES:
        raise ConfigError(f"moment {name!r}: expected KIND:REGIME with KIND one of {', '.join(KINDS)} and REGIME one "
                          f"of {', '.join(REGIMES)}")
    return kind, regime


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
    """Table III's cells as targets: rho_T, w2_T, quality_rel and delta_welfare by regime (the `unregulated`
    quality_rel and delta_welfare are 1 and 0 by definition and left out). The paper gives no standard errors; it
    states a coefficient of variation below 5% over its 32 seeds (`STATED['table3_cv']`), so the s.e. of a cell
    mean is taken as that bound: 0.05 |value| / sqrt(32)."""
    cv = STATED["table3_cv"]["max"]
    cells = {"rho_T": "rho", "w2_T": "w2", "quality_rel": "q_rel", "delta_welfare": "dw"}
    return [Target(f"{kind}:{regime}", value, cv * abs(value) / math.sqrt(PAPER_SEEDS))
            for regime, row in TABLE_III.items() for kind, field in cells.items()
            if (value := getattr(row, field)) != 0 and not (regime == "unregulated" and kind in RELATIVE)]


def model_moments(cfg: SDCEConfig, names: list[str]) -> dict[str, float]:
    """The moments `names` computed by the continuum at `cfg`: one mean-field solve per regime needed (the
    `unregulated` one too for relative moments), without a policy."""
    from meanfield.solve import solve_meanfield

    parsed = {name: parse_moment(name) for name in names}
    regimes = {regime for _, regime in parsed.values()} | (
        {"unregulated"} if any(kind in RELATIVE for kind, _ in parsed.values()) else set())
    finals = {}
    for regime in sorted(regimes, key=REGIMES.index):
        result = solve_meanfield(cfg.replace(regime=regime, policy="none"))
        finals[regime] = {key: float(result[key][-1]) for key in LEVELS.values()}
    base = finals.get("unregulated")

    def moment(kind: str, regime: str) -> float:
        if kind == "quality_rel":
            return finals[regime]["quality"] / base["quality"]
        if kind == "delta_welfare":
            return finals[regime]["W"] - base["W"]
        return finals[regime][LEVELS[kind]]

    return {name: moment(*parsed[name]) for name in names}


def compare_moments(targets: list[Target], moments: dict[str, float]) -> list[dict]:
    """Each target beside its model moment, with z = (model − target) / se."""
    return [{"moment": t.moment, "target": t.value, "se": t.se, "model": moments[t.moment],
             "z": (moments[t.moment] - t.value) / t.se} for t in targets]


def plot_moments(rows: list[dict], title: str, path: Path) -> None:
    """z of every moment, with the |z| = 2 band, on a symmetric log axis (linear within |z| <= 2; docs/figures.md)."""
    from matplotlib.figure import Figure

    from sdce.atomic import save_figure_atomic
    from sdce.figures import figure_legend

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
