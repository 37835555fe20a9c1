"""Every figure the project makes follows docs/figures.md: a title, labelled x and y axes on every axes that holds
data, at most one legend, math text rather than bare symbol names. Each is rendered at a tiny size from small
synthetic inputs or the smallest real runs, so a label that does not parse as math text fails here too."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import calibration.reproduce as reproduce
import calibration.retrain.plots as retrain_plots
import calibration.smm as smm
import calibration.tables as tables
import calibration.targets as targets
import meanfield.plots as mf_plots
import meanfield.theorem6 as theorem6
import sdce.experiments.theorem4 as theorem4
import sdce.experiments.theorem5 as theorem5
import sdce.figures as figures
import sdce_abm.live_figures as live
import sdce_abm.plots as abm_plots
import sdce_abm.policy_sweep as policy_sweep
from meanfield.solve import grid_spec, meanfield_summary, solve_meanfield
from sdce.config import SDCEConfig
from sdce.results import Comparison
from sdce_abm.model import SDCEModel
from sdce_abm.output import summary, trajectory

BARE = re.compile(r"\b(phi_hat|phi|rho|tau|nu|W2|MW2|Q_t|Q_0)\b")  # symbol names that belong in math text


def data_axes(fig: Figure):
    """The axes that hold data: visible, not a colorbar, with lines, collections, patches or images."""
    return [ax for ax in fig.axes if ax.axison and not hasattr(ax, "_colorbar")
            and (ax.lines or ax.collections or ax.patches or ax.images)]


def texts(fig: Figure):
    yield fig._suptitle.get_text() if fig._suptitle else ""
    for ax in fig.axes:
        yield from (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
        yield from ax.get_legend_handles_labels()[1]
    for legend in fig.legends:
        yield from (t.get_text() for t in legend.get_texts())


def style_problems(fig: Figure) -> list[str]:
    """What in `fig` breaks docs/figures.md."""
    problems = []
    axes = data_axes(fig)
    if not axes:
        problems.append("no axes with data")
    titled = all(any(a.get_title() for a in ax.get_shared_x_axes().get_siblings(ax)) for ax in axes)  # twinx too
    if not (fig._suptitle and fig._suptitle.get_text()) and not titled:
        problems.append("no title: neither a suptitle nor a title on every data axes")
    for k, ax in enumerate(axes):
        if not any(a.get_xlabel() for a in ax.get_shared_x_axes().get_siblings(ax)):
            problems.append(f"axes {k} ({ax.get_title()!r}): no x label")
        if not ax.get_ylabel():
            problems.append(f"axes {k} ({ax.get_title()!r}): no y label")
    legends = len(fig.legends) + sum(ax.get_legend() is not None for ax in fig.axes)
    if legends > 1:
        problems.append(f"{legends} legends")
    for text in texts(fig):
        bare = BARE.search(re.sub(r"\$[^$]*\$", "", text))
        if bare:
            problems.append(f"bare {bare.group()!r} outside math text in {text!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=30, format="png")  # math text is parsed when drawn
    return problems


@pytest.fixture
def saved(monkeypatch):
    """The figures the plot functions hand to `save_figure_atomic` (drawn, not written), in order."""
    drawn = []
    for module in (figures, abm_plots, policy_sweep, mf_plots, retrain_plots, tables, reproduce, theorem4, theorem5,
                   theorem6, targets, smm):
        monkeypatch.setattr(module, "save_figure_atomic", lambda fig, path, dpi: drawn.append(fig))
    return drawn


@pytest.fixture(scope="module")
def market():
    cfg = SDCEConfig(n_producers=16, n_trainers=2, generations=2)
    model = SDCEModel(config=cfg, seed=3)
    model.run_model()
    return model, solve_meanfield(cfg)


def test_the_style_check_catches_each_rule():
    fig = Figure()
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], [0, 1], label="a")
    right.plot([0, 1], [1, 0], label="rho")
    left.legend()
    right.legend()
    left.set(xlabel="t", ylabel="y")
    assert set(style_problems(fig)) == {"no title: neither a suptitle nor a title on every data axes",
                                        "axes 1 (''): no x label", "axes 1 (''): no y label", "2 legends",
                                        "bare 'rho' outside math text in 'rho'"}


def test_abm_figures(market, saved, tmp_path):
    model, limit = market
    abm_plots.plot_trajectory(trajectory(model), model.provenance_path(), model.w2_floor, "one run", tmp_path / "t.png")
    run = summary(model)
    abm_plots.plot_regime_comparison({"unregulated": run, "shapley": run}, tmp_path / "c.png")
    rounds = pd.DataFrame({"round": [0, 1, 0, 1], "return": [0.1, 0.2, 0.2, 0.3], "critic_loss": [1.0, 0.5, 0.4, 0.2],
                           "price": [0.01, 0.02, 0.02, 0.03], "rho": [0.2, 0.3, 0.3, 0.4]})
    abm_plots.plot_learning(rounds, tmp_path / "l.png")
    by_level = pd.DataFrame({("W", "mean"): [0.1, 0.2, 0.15], ("W", "std"): [0.01, 0.02, 0.01],
                             ("W_realized", "mean"): [0.1, 0.19, 0.14]}, index=[0.0, 0.01, 0.02])
    policy_sweep.plot_sweep(by_level, "subsidy", 0.01, 0.012, tmp_path / "s.png", seeds=2)
    assert len(saved) == 4
    for fig in saved:
        assert style_problems(fig) == []
    floor = [line for ax in saved[1].axes for line in ax.lines if "noise floor" in line.get_label()]
    assert len(floor) == 1 and floor[0].get_ydata()[0] == pytest.approx(model.w2_floor)  # the floor the run computed
    welfare = {line.get_label(): line for line in saved[0].axes[3].lines}
    assert list(welfare["$W_t$ (Theorem 2)"].get_ydata()) == run.welfare_path


def test_live_page_figures(market):
    model, limit = market
    for fig in (live.contamination_quality_figure(model, limit), live.price_drift_figure(model, limit),
                live.provenance_figure(model), live.public_model_figure(model), live.welfare_figure(model)):
        assert style_problems(fig) == []


def test_meanfield_figures(market, saved, tmp_path):
    model, limit = market
    cfg = model.config
    mf_plots.plot_meanfield(meanfield_summary(cfg, limit, "gaussian"), tmp_path / "m.png")
    gens = np.arange(3)
    medians = {m: [0.3, 0.2] for m in mf_plots.LABELS}
    fit = {m: {"estimate": 0.5, "low": 0.3, "high": 0.7} for m in mf_plots.LABELS}
    by_rule = {r: {lim: {"errors": medians, "exponent": fit} for lim in ("mle", "wgf")} for r in ("mle", "wgf")}
    mf_plots.plot_errors(Comparison([16, 32], 2, "mle", medians, fit, by_rule, {}, {}), tmp_path / "e.png")
    paths = pd.DataFrame([{"rule": r, "producers": n, "seed": s, "generation": t, "rho": 0.2 + 0.1 * t,
                           "quality": 0.8 - 0.1 * t + 0.01 * s, "w2": 0.1 * t}
                          for r in ("mle", "wgf") for n in (16, 32) for s in range(2) for t in gens])
    limits = {lim: {"rho": 0.2 + 0.1 * gens, "quality": 0.8 - 0.1 * gens, "w2": 0.1 * gens} for lim in ("mle", "wgf")}
    mf_plots.plot_trajectories(paths, limits, ("mle", "wgf"), "unregulated", tmp_path / "tr.png")
    assert len(saved) == 3
    for dim in (1, 2):
        grid_cfg = cfg.replace(dim=dim, generations=4)
        spec = grid_spec(grid_cfg)
        masses = np.exp(-0.5 * (spec.points ** 2).sum(axis=1)).reshape(spec.shape)
        masses /= masses.sum()
        mf_plots.plot_densities(grid_cfg, {"public": np.stack([masses] * 5), "p": masses}, tmp_path / "d.png")
    for fig in saved:
        assert style_problems(fig) == []
    assert [ax.get_title() for ax in saved[-1].axes[:4]] == ["$p$ (human data)", *(
        rf"$\bar q_{{{t}}}$, generation {t}" for t in mf_plots.snapshot_generations(4))]
    coinciding = [line for line in saved[2].axes[0].lines if "limit" in line.get_label()]
    assert {(line.get_linestyle(), line.get_marker()) for line in coinciding} == {("--", "o"), (":", "x")}


def test_calibration_figures(saved, tmp_path):
    panel = pd.DataFrame([{"domain": "text", "rho": rho, "generation": t, "seed": s, "metric": m, "value": v + s}
                          for rho in (0.1, 0.5) for t in range(3) for s in range(2)
                          for m, v in (("perplexity", 10.0 + t * rho), ("relative_quality", 1 - t * rho / 5))])
    retrain_plots.plot_panel(panel, tmp_path / "p.png", "text")
    rows = [{"regime": r, "metric": m, "mean": 0.5, "sd": 0.1, "n": 2, "paper": 0.4}
            for r in ("unregulated", "pmir") for m in tables.LABELS]
    tables.plot_outcomes(pd.DataFrame(rows), "regime", {"pmir": "PMIR"}, "Table III", tmp_path / "o.png",
                         w2_floor=0.2)
    long = pd.DataFrame([{"t": t, "rho": rho, "ours": np.exp(-0.3 * t * rho**2 - 0.01 * t),
                          "paper": np.exp(-0.18 * t * rho**2)} for t in (1, 2, 3, 5) for rho in (0.1, 0.5, 0.9)])
    fits = {"ours": {"intercept": 0.0, "slope": -0.3, "b": 0.3, "r2": 0.9},
            "paper": {"intercept": 0.0, "slope": -0.18, "b": 0.18, "r2": 1.0}}
    reproduce.plot_table4(long, tmp_path / "t4.png", fits)
    assert len(saved) == 3
    for fig in saved:
        assert style_problems(fig) == []
    fitted = [line for line in saved[2].axes[0].lines if line.get_label().startswith("eq. (15) fit")]
    assert [line.get_ydata()[-1] / line.get_xdata()[-1] for line in fitted] == pytest.approx([-0.3, -0.18])


def test_fit_figures(saved, tmp_path):
    rows = [{"moment": "rho_T:statutory", "target": 0.6, "se": 0.01, "fitted": 0.61, "z": 1.0, "in_fit": True},
            {"moment": "quality_rel:pmir", "target": 1.2, "se": 0.02, "fitted": 1.0, "z": -10.0, "in_fit": False}]
    targets.plot_moments([{**r, "model": r["fitted"]} for r in rows], "targets", tmp_path / "m.png")
    smm.plot_fit(smm.SMMFit(params={"kappa_q": 3.0}, se={"kappa_q": 0.1}, loss=1.0, converged=True, moments=rows,
                            starts=[1.0]), "SMM fit", tmp_path / "f.png")
    assert len(saved) == 2
    for fig in saved:
        assert style_problems(fig) == []


def test_theorem_figures(saved, tmp_path, monkeypatch):
    cfg = SDCEConfig(n_producers=16, n_trainers=2, generations=2)
    theorem4.plot_theorem4(*theorem4.theorem4_result(cfg, grid=5), tmp_path / "t4.png")
    theorem5.plot_theorem5(theorem5.estimator_variance(cfg, [1, 2, 4], reps=50), tmp_path / "t5.png")
    for fig in saved:
        assert style_problems(fig) == []


def test_theorem6_figure(saved, tmp_path, monkeypatch):
    path = np.concatenate([np.linspace(1.0, 0.5, 20), 0.5 + 0.01 * np.sin(np.arange(40))])
    monkeypatch.setattr(theorem6, "solve_meanfield",
                        lambda cfg: {f"learning_{k}": path.copy() for k in theorem6.OBSERVABLES})
    theorem6.run_theorem6(SDCEConfig(), tmp_path, generations=3, epsilons=(0.5, 0.2, 0.1, 0.001))
    assert len(saved) == 1 and style_problems(saved[0]) == []
