"""`sdce reproduce table2|table4`: our estimates of the collapse law beside the paper's published tables.

Every number in "ours" is computed here from our own panels; the paper's numbers come from
`sdce.paper.published` (typed in with their source) and are only ever printed beside ours, with the gap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from calibration.ols import collapse_law_ols, pooled_fixed_effects
from calibration.retrain.loop import RetrainConfig, make_retrain_config, run_retraining
from sdce.atomic import save_figure_atomic, write_text_atomic
from sdce.paper.published import SOURCE, STATED, TABLE_II, TABLE_IV, TABLE_IV_GENERATIONS, TABLE_IV_RHOS, table4_panel

# Our source -> (its metric for eq. 13, the paper's Table II row it stands beside)
TABLE2_SOURCES = {"text": ("perplexity", "c4_synthetic"), "images": ("frechet", "cifar"),
                  "recsys": ("concentration", None), "abm": ("relative_quality", None)}


def markdown(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub Markdown table (no extra dependency)."""
    def cell(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else format(v, floatfmt)
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _gap_columns(b: float, se: float, paper_b: float, paper_se: float) -> dict:
    gap = b - paper_b
    return {"gap": gap, "gap_z": gap / math.hypot(se, paper_se) if not math.isnan(paper_se) else float("nan")}


def retraining_configs(domains: Sequence[str], size: str, seeds: int) -> dict[str, RetrainConfig]:
    """The default retraining grid of each domain at `size` over `seeds` replications (Table II)."""
    return {d: make_retrain_config(domain=d, size=size, seeds=seeds) for d in domains}


def retraining_panels(domains: Sequence[str], out: Path, size: str, seeds: int,
                      on_cells: Callable[[int], None] | None = None, force: bool = False) -> dict[str, pd.DataFrame]:
    """Run (or resume) the default grid of each domain into out/retrain/<domain> (`force`: clear a folder of
    another grid)."""
    return {d: run_retraining(cfg, out / "retrain" / d, on_cells, force=force)
            for d, cfg in retraining_configs(domains, size, seeds).items()}


def table2(panels: dict[str, pd.DataFrame], abm_panel: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Our b-hat (HAC s.e., R^2, n) per source and pooled over the retraining domains, beside Table II."""
    out.mkdir(parents=True, exist_ok=True)
    fits = {name: collapse_law_ols(panel, TABLE2_SOURCES[name][0]) for name, panel in panels.items()}
    fits["abm"] = collapse_law_ols(abm_panel, "relative_quality")
    pooled = pooled_fixed_effects({n: (p, TABLE2_SOURCES[n][0]) for n, p in panels.items()})
    rows = []
    for name, fit in fits.items():
        metric, paper_key = TABLE2_SOURCES[name]
        if paper_key is not None:
            paper = TABLE_II[paper_key]
            label, pb, pse = paper.label, paper.b, paper.se_hac
        elif name == "abm":
            label, pb, pse = "structural prediction (eq. 15)", STATED["structural"]["b"], float("nan")
        else:
            label, pb, pse = "", float("nan"), float("nan")
        rows.append({"ours": f"{name} (log {metric})", "b": fit["b"], "se_hac": fit["se_hac"], "r2": fit["r2"],
                     "n": fit["n"], "paper row": label, "paper b": pb, "paper se": pse,
                     **_gap_columns(fit["b"], fit["se_hac"], pb, pse)})
    paper = TABLE_II["pooled"]
    rows.append({"ours": f"pooled fixed effects ({', '.join(panels)})", "b": pooled["b"], "se_hac": pooled["se_hac"],
                 "r2": pooled["r2"], "n": pooled["n"], "paper row": paper.label, "paper b": paper.b,
                 "paper se": paper.se_hac, **_gap_columns(pooled["b"], pooled["se_hac"], paper.b, paper.se_hac)})
    used = {TABLE2_SOURCES[n][1] for n in fits}
    for key, paper in TABLE_II.items():
        if key not in used and key != "pooled":
            rows.append({"ours": "", "b": float("nan"), "se_hac": float("nan"), "r2": float("nan"), "n": None,
                         "paper row": paper.label, "paper b": paper.b, "paper se": paper.se_hac,
                         "gap": float("nan"), "gap_z": float("nan")})
    table = pd.DataFrame(rows)
    write_text_atomic(out / "table2.csv", table.to_csv(index=False))
    lag = fits["abm"]["lag_rule"]
    write_text_atomic(out / "table2.md",
        "# Table II: reduced-form collapse-rate exponent b-hat (eq. 13)\n\n"
        f"OLS of the cell-mean log metric on t·rho² (t = 1..T), HAC errors ({lag} for n = 50). b > 0 means "
        "collapse (for Q_t/Q_0 it is minus the slope, as in eq. 15). gap = ours − paper; gap_z = gap / "
        f"sqrt(se² + se_paper²). Paper values: {SOURCE}, Table II.\n\n" + markdown(table))
    return table


def table4(abm_panel: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Our ABM's Q_t(rho)/Q_0 (mean over seeds) beside Table IV, with the eq. (15) fit of each."""
    out.mkdir(parents=True, exist_ok=True)
    rel = abm_panel[abm_panel["metric"] == "relative_quality"]
    ours = rel.groupby(["generation", "rho"])["value"].agg(["mean", "std"])
    rows = []
    for t in TABLE_IV_GENERATIONS:
        for j, rho in enumerate(TABLE_IV_RHOS):
            mean, sd = ours.loc[(t, rho)] if (t, rho) in ours.index else (float("nan"), float("nan"))
            rows.append({"t": t, "rho": rho, "ours": mean, "ours sd": sd, "paper": TABLE_IV[t][j],
                         "gap": mean - TABLE_IV[t][j]})
    long = pd.DataFrame(rows)
    write_text_atomic(out / "table4.csv", long.to_csv(index=False))
    fit_ours = collapse_law_ols(abm_panel, "relative_quality")
    fit_paper = collapse_law_ols(table4_panel(), "relative_quality")
    fits = pd.DataFrame([
        {"fit of eq. (15)": "ours (ABM, t = 1..T)", "b": fit_ours["b"], "se_hac": fit_ours["se_hac"],
         "r2": fit_ours["r2"], "n": fit_ours["n"]},
        {"fit of eq. (15)": "paper's Table IV, recomputed", "b": fit_paper["b"], "se_hac": fit_paper["se_hac"],
         "r2": fit_paper["r2"], "n": fit_paper["n"]},
        {"fit of eq. (15)": "paper's stated eq. (15)", "b": STATED["eq15"]["b"], "se_hac": float("nan"),
         "r2": STATED["eq15"]["r2"], "n": None},
    ])
    write_text_atomic(out / "table4_fit.csv", fits.to_csv(index=False))
    wide = long.assign(cell=[f"{o:.3f} ({p:.3f})" for o, p in zip(long["ours"], long["paper"])]).pivot(
        index="t", columns="rho", values="cell")
    wide.columns = [f"rho = {c:g}" for c in wide.columns]
    write_text_atomic(out / "table4.md",
        "# Table IV: relative quality Q_t(rho)/Q_0, ours (paper)\n\n"
        "Ours: the ABM with rho held fixed (`fixed_rho`), mean over seeds; the paper's value in brackets "
        f"({SOURCE}, Table IV).\n\n" + markdown(wide.reset_index()) + "\n## Fits of eq. (15)\n\n" + markdown(fits)
        + f"\nLargest |gap|: {np.nanmax(np.abs(long['gap'])):.3f}.\n")
    plot_table4(long, out / "table4.png")
    return long


def plot_table4(long: pd.DataFrame, path: Path) -> None:
    """log Q_t/Q_0 against t·rho²: ours (points per rho) and the paper's Table IV (crosses)."""
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.subplots()
    for rho, g in long.groupby("rho"):
        x = g["t"] * rho**2
        line, = ax.plot(x, np.log(g["ours"]), "o-", ms=4, label=f"ours ρ = {rho:g}")
        ax.plot(x, np.log(g["paper"]), "x--", color=line.get_color(), alpha=0.6)
    ax.set(xlabel="t ρ²", ylabel="log Q_t / Q_0", title="Table IV: ours (o) and the paper's (x)")
    ax.legend(fontsize=7)
    save_figure_atomic(fig, path, 120)
