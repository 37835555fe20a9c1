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
from calibration.report import verdict
from sdce.atomic import save_figure_atomic, write_text_atomic
from sdce.figures import figure_legend
from sdce.paper.published import SOURCE, STATED, TABLE_II, TABLE_IV, TABLE_IV_GENERATIONS, TABLE_IV_RHOS, table4_panel
from sdce.table_cells import cell, table_scale

# Our source -> (its metric for eq. 13, the paper's Table II row it stands beside, our model and data: docs/model.md
# §11-12). Our rows are our own experiments, not the paper's: they only stand beside its rows.
TABLE2_SOURCES = {"text": ("perplexity", "c4_synthetic", "neural n-gram on the Python manual"),
                  "images": ("frechet", "cifar", "MADE on 8×8 digits"),
                  "recsys": ("concentration", None, "matrix factorisation, synthetic users"),
                  "abm": ("relative_quality", None, "the ABM at fixed rho")}
AGREE_Z = 2.0  # ours agrees with a published b-hat when |gap| < AGREE_Z combined standard errors


def markdown(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub Markdown table (no extra dependency); numbers through `sdce.table_cells.cell` at the table's scale."""
    rows = list(frame.itertuples(index=False))
    scale = table_scale(v for row in rows for v in row)

    def text(v):
        if isinstance(v, (float, np.floating)):
            return cell(v, floatfmt, scale)
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(text(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _gap_columns(b: float, se: float, paper_b: float, paper_se: float) -> dict:
    gap = b - paper_b
    return {"gap": gap, "gap_z": gap / math.hypot(se, paper_se) if not math.isnan(paper_se) else float("nan")}


def agreement(ours: str, b: float, se: float, paper: str, paper_b: float, paper_se: float) -> str:
    """One claim line: does our b-hat agree with a published one, |gap| < AGREE_Z sqrt(se² + se_paper²) (se_paper
    0 where the paper gives none)? Not checked where either b-hat or our s.e. is missing."""
    spread = math.hypot(se, 0.0 if math.isnan(paper_se) else paper_se)
    z = (b - paper_b) / spread if spread > 0 else float("nan")
    holds = None if math.isnan(z) else bool(abs(z) < AGREE_Z)
    theirs = f"{cell(paper_b, '.3f')}" + ("" if math.isnan(paper_se) else f" ± {cell(paper_se, '.3f')}")
    return (f"- {ours} agrees with {paper} (|gap| < {AGREE_Z:g} s.e.) — {verdict(holds)} (ours "
            f"{cell(b, '.3f')} ± {cell(se, '.3f')}, the paper's {theirs}; gap / s.e. {cell(z, '+.2f')})")


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
    rows, claims = [], []
    for name, fit in fits.items():
        metric, paper_key, what = TABLE2_SOURCES[name]
        if paper_key is not None:
            paper = TABLE_II[paper_key]
            label, pb, pse = f"paper: {paper.label}", paper.b, paper.se_hac
        elif name == "abm":
            label, pb, pse = "paper: structural prediction (eq. 15)", STATED["structural"]["b"], float("nan")
        else:
            label, pb, pse = "", float("nan"), float("nan")
        ours = f"{name} (ours: {what}; log {metric})"
        rows.append({"ours": ours, "b": fit["b"], "se_hac": fit["se_hac"], "r2": fit["r2"],
                     "n": fit["n"], "paper row": label, "paper b": pb, "paper se": pse,
                     **_gap_columns(fit["b"], fit["se_hac"], pb, pse)})
        if paper_key is not None:  # the ABM's b-hat against eq. (15)'s 0.183 is Table IV's claim
            claims.append(agreement(ours, fit["b"], fit["se_hac"], label, pb, pse))
    paper = TABLE_II["pooled"]
    ours = f"pooled fixed effects (ours: {', '.join(panels)})"
    rows.append({"ours": ours, "b": pooled["b"], "se_hac": pooled["se_hac"],
                 "r2": pooled["r2"], "n": pooled["n"], "paper row": f"paper: {paper.label}", "paper b": paper.b,
                 "paper se": paper.se_hac, **_gap_columns(pooled["b"], pooled["se_hac"], paper.b, paper.se_hac)})
    claims.append(agreement(ours, pooled["b"], pooled["se_hac"], f"paper: {paper.label}", paper.b, paper.se_hac))
    used = {TABLE2_SOURCES[n][1] for n in fits}
    for key, paper in TABLE_II.items():
        if key not in used and key != "pooled":
            rows.append({"ours": "", "b": float("nan"), "se_hac": float("nan"), "r2": float("nan"), "n": None,
                         "paper row": f"paper: {paper.label}", "paper b": paper.b, "paper se": paper.se_hac,
                         "gap": float("nan"), "gap_z": float("nan")})
    table = pd.DataFrame(rows)
    write_text_atomic(out / "table2.csv", table.to_csv(index=False))
    lag = fits["abm"]["lag_rule"]
    write_text_atomic(out / "table2.md",
        "# Table II: reduced-form collapse-rate exponent b-hat (eq. 13)\n\n"
        f"OLS of the cell-mean log metric on t·rho² (t = 1..T), HAC errors ({lag} for n = 50). b > 0 means "
        "collapse (for Q_t/Q_0 it is minus the slope, as in eq. 15). Rows `ours` are our own models and data "
        "(docs/model.md §11), each beside the paper's row it stands for (`paper: …`, the paper's study and data); "
        "gap = ours − paper; gap_z = gap / "
        f"sqrt(se² + se_paper²). Paper values: {SOURCE}, Table II.\n\n" + markdown(table)
        + "\n## Agreement with the paper's b-hat\n\n" + "\n".join(claims) + "\n")
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
        + f"\nLargest |gap|: {cell(np.nanmax(np.abs(long['gap'])), '.3f')}.\n\n"
        + agreement("eq. (15) on our ABM", fit_ours["b"], fit_ours["se_hac"], "the paper's stated eq. (15)",
                    STATED["eq15"]["b"], float("nan")) + "\n")
    seeds = abm_panel["seed"].nunique()
    plot_table4(long, out / "table4.png", {f"ours (ABM, {seeds} seed{'s' * (seeds != 1)}, t = 1..T)": fit_ours,
                                           "the paper's Table IV, recomputed": fit_paper})
    return long


def plot_table4(long: pd.DataFrame, path: Path, fits: dict[str, dict]) -> None:
    """log Q_t/Q_0 against t·rho², ours (points per rho) and the paper's Table IV (crosses), with the eq. (15) line
    a + slope·t·rho² of each fit in `fits` (label -> `collapse_law_ols` result, as `table4` computes them); right,
    each cell's residual from the first fit, by rho: eq. (15) is linear in t·rho², so a trend in these residuals is
    the curvature the straight line misses."""
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    ax, ax_res = fig.subplots(1, 2)
    first = next(iter(fits.values()))
    x_all = long["t"] * long["rho"] ** 2
    for rho, g in long.groupby("rho"):
        x = g["t"] * rho**2
        line, = ax.plot(x, np.log(g["ours"]), "o", ms=5, label=rf"ours, $\rho$ = {rho:g}")
        ax.plot(x, np.log(g["paper"]), "x", ms=6, color=line.get_color(), alpha=0.7)
        ax_res.plot(x, np.log(g["ours"]) - (first["intercept"] + first["slope"] * x), "o-", ms=4,
                    color=line.get_color())
    ax.plot([], [], "x", color="grey", label=r"the paper's Table IV (same colour per $\rho$)")
    grid = np.linspace(0, float(np.nanmax(x_all)), 50)
    for (label, fit), style in zip(fits.items(), ("-", "--", ":")):
        ax.plot(grid, fit["intercept"] + fit["slope"] * grid, style, color="k", lw=1.2,
                label=f"eq. (15) fit, {label}: " + r"$\hat b$" + f" = {fit['b']:.3f}, $R^2$ = {fit['r2']:.2f}")
    ax.set(xlabel=r"$t\,\rho^2$", ylabel=r"$\log\, Q_t(\rho) / Q_0$", title="Table IV against eq. (15)")
    ax_res.axhline(0, color="k", lw=0.8)
    ax_res.set(xlabel=r"$t\,\rho^2$", ylabel=r"residual $\log\, Q_t/Q_0 - (\hat a - \hat b\, t\rho^2)$",
               title="ours minus the solid eq. (15) line (linear: no trend)")
    figure_legend(fig, ncols=3)
    fig.suptitle(r"Table IV: our $Q_t(\rho)/Q_0$ (mean over the ABM seeds) and the paper's, on the axis of eq. (15)")
    save_figure_atomic(fig, path, 120)
