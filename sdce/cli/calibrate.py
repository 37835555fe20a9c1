"""`sdce retrain` and `sdce calibrate ols|moments|smm|bayes`: the recursive-retraining benchmark, the reduced-form
collapse law, the target moments, the structural (SMM) fit and the posterior (NUTS)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from sdce.budget import check_budget, retrain_need
from sdce.cli.common import (
    Command,
    ConfigOpt,
    DataMode,
    Domain,
    ForceOpt,
    RetrainSize,
    abm_panel_with_progress,
    announce,
    check_abm_panel,
    clean_errors,
    command_group,
    print_json,
    print_quantities,
    print_table,
    progress_bar,
    solving,
)
from sdce.config import load_config
from sdce.errors import ConfigError
from sdce.strict_json import dumps

calibrate_app = command_group(help="Estimate the collapse law and calibrate the model.")


def _print_metric(panel, metric: str, title: str) -> None:
    """Mean of `metric` over seeds by generation (rows) and rho (columns)."""
    means = panel[panel["metric"] == metric].pivot_table(index="generation", columns="rho", values="value")
    print_table(title, ["generation", *(f"rho={rho:g}" for rho in means.columns)],
                ([str(t), *(f"{v:.4g}" for v in row)] for t, row in means.iterrows()), first_left=True)


def retrain(
    domain: Domain = typer.Option("text", help="Benchmark domain (docs/model.md §11)."),
    rho: str = typer.Option("0.1,0.3,0.5,0.7,0.9", help="Comma-separated contamination ratios in [0, 1]."),
    generations: int = typer.Option(10, help="T, generations after generation 0."),
    seeds: int = typer.Option(1, help="K, replications."),
    seed: int = typer.Option(0, min=0, help="First seed."),
    tau: float = typer.Option(0.8, help="Sampling temperature of the synthetic data, in (0, 1]."),
    data_mode: DataMode = typer.Option("replace", help="Fresh human data each generation (replace) or kept "
                                                       "(accumulate)."),
    size: RetrainSize = typer.Option("small", help="tiny (tests), small (CPU), paper (GPU)."),
    out: Optional[Path] = typer.Option(None, show_default="runs/retrain/DOMAIN-SIZE", help="Run folder."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print {panel: records, path} as one JSON object."),
) -> None:
    """Recursive retraining: each generation a fresh model on (1-rho) fresh human data and rho synthetic data.

    Writes DIR/panel.csv (domain, rho, generation, seed, metric, value) and DIR/panel.png. Every finished
    generation is checkpointed; rerunning the same command resumes.
    """
    from calibration.retrain.loop import build_domain, make_retrain_config, run_retraining
    from calibration.retrain.plots import plot_panel

    with clean_errors():
        cfg = make_retrain_config(domain=domain, rhos=rho, generations=generations, seeds=seeds, seed=seed, tau=tau,
                                  data_mode=data_mode, size=size)
        folder = out or Path("runs/retrain") / f"{cfg.domain}-{cfg.size}"
        check_budget(f"the retraining run of {len(cfg.rhos)} ratios", lambda seeds, generations: retrain_need(
            len(cfg.rhos), seeds, generations, cfg.size), seeds=cfg.seeds, generations=cfg.generations)
        announce(folder)
        with progress_bar() as progress:
            task = progress.add_task(f"retrain {cfg.domain} ({cfg.size})",
                                     total=len(cfg.rhos) * cfg.seeds * (cfg.generations + 1))
            panel = run_retraining(cfg, folder, on_cells=lambda k: progress.advance(task, k), force=force)
    figure = plot_panel(panel, folder / "panel.png", f"{cfg.domain}: $\\tau$={cfg.tau}, {cfg.data_mode}, {cfg.size}")
    if as_json:
        print_json({"panel": panel.to_dict("records"), "path": str(folder / "panel.csv"), "figure": str(figure)})
        return
    metric = build_domain(cfg.domain, cfg.size).metrics[0]
    _print_metric(panel, metric, f"{cfg.domain}: {metric} (mean over {cfg.seeds} seeds) -> {folder}")


@calibrate_app.command("ols", cls=Command)
def calibrate_ols(
    panel: Optional[Path] = typer.Option(None, show_default="none: give --source",
                                         help="Panel CSV (columns rho, generation, metric, value)."),
    source: Optional[Literal["paper-table4", "abm"]] = typer.Option(
        None, show_default="none: give --panel", help="paper-table4: the published Table IV; abm: run our ABM."),
    metric: Optional[str] = typer.Option(None, show_default="the panel's headline metric", help="Metric to regress."),
    min_generation: int = typer.Option(1, help="Use generations t >= this."),
    maxlags: Optional[int] = typer.Option(None, show_default="Newey-West (1994) rule", help="HAC lags."),
    config: Optional[Path] = ConfigOpt,
    seeds: int = typer.Option(4, help="abm: seeds per rho."),
    seed: int = typer.Option(17, min=0, help="abm: first seed."),
    out: Path = typer.Option(Path("runs/calibrate"), help="abm: folder for abm_panel.csv."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the fit (b, se_hac, r2, n, ...) as JSON."),
) -> None:
    """Eq. (13)/(15): OLS of log metric on t·rho² with Newey-West HAC errors (statsmodels)."""
    from calibration.ols import collapse_law_ols, load_panel
    from sdce.paper.published import table4_panel

    with clean_errors():
        if (panel is None) == (source is None):
            raise ConfigError("give exactly one of --panel FILE or --source paper-table4|abm")
        if panel is not None:
            frame = load_panel(panel)
        elif source == "paper-table4":
            frame = table4_panel()
        else:
            from calibration.runs import claim_tables_folder

            cfg = load_config(config)
            check_abm_panel(cfg, seeds, "--seeds")
            claim_tables_folder(out, cfg, force=force)
            announce(out)
            with progress_bar() as progress:
                frame = abm_panel_with_progress(config, seeds, seed, progress, out)
        fit = collapse_law_ols(frame, metric, min_generation=min_generation, maxlags=maxlags)
    if as_json:
        print_json(fit)
        return
    print_quantities(f"eq. (13)/(15): log {fit['metric']} = a0 + slope t rho^2 (b = {fit['direction']:+d} x slope)",
                     ((key, fit[key]) for key in ("b", "se_hac", "se_ols", "t_stat", "p_value", "r2", "n", "lag_rule")))


def _targets(targets: str):
    from calibration.targets import load_targets, paper_targets

    return paper_targets() if targets == "paper" else load_targets(Path(targets))


TargetsOpt = typer.Option(..., "--targets", help="Target CSV (moment,value,se), or 'paper': Tables III and IV's "
                                                  "cells (docs/model.md §12).")
ParamsOpt = typer.Option("temperature,kappa_q,cost_human,nu_mean", "--params",
                         help="Comma-separated parameters to calibrate (docs/model.md §12).")


@calibrate_app.command("moments", cls=Command)
def calibrate_moments(
    targets: str = TargetsOpt,
    config: Optional[Path] = ConfigOpt,
    out: Optional[Path] = typer.Option(None, show_default="none: print only", help="Folder for moments.csv and "
                                                                                    "moments.png."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the rows (moment, target, se, model, z) as JSON."),
) -> None:
    """Target moments beside the continuum's at a configuration, with z = (model - target) / se (docs/model.md §12).

    The distance that a structural fit (SMM) will minimise; here the parameters are those of the configuration.
    """
    import pandas as pd

    from calibration.targets import compare_moments, model_moments, plot_moments
    from sdce.atomic import write_text_atomic
    from sdce.run_folder import RECORD, claim_folder

    with clean_errors():
        chosen = _targets(targets)
        cfg = load_config(config)
        if out is not None:
            claim_folder(out, {"command": "sdce calibrate moments", "config": cfg.model_dump(mode="json"),
                               "targets": [t.__dict__ for t in chosen]}, RECORD, "a moments comparison", force=force)
            announce(out)
        with solving(f"the continuum for {len(chosen)} moment(s)"):
            rows = compare_moments(chosen, model_moments(cfg, [t.moment for t in chosen]))
    if out is not None:
        write_text_atomic(out / "moments.csv", pd.DataFrame(rows).to_csv(index=False))
        plot_moments(rows, f"targets ({targets if targets == 'paper' else Path(targets).name}) against the continuum\n"
                           f"N = {cfg.n_producers}, M = {cfg.n_trainers}, T = {cfg.generations}", out / "moments.png")
    if as_json:
        print_json(rows)
        return
    print_table(f"target moments against the continuum{f' -> {out}' if out else ''}",
                ("moment", "target", "se", "model", "z"),
                ([r["moment"], *(format(r[k], ".4g") for k in ("target", "se", "model")), f"{r['z']:+.2f}"]
                 for r in rows), first_left=True)


@calibrate_app.command("smm", cls=Command)
def calibrate_smm(
    targets: str = TargetsOpt,
    params: str = ParamsOpt,
    starts: int = typer.Option(4, min=1, help="K, starts of the optimiser: the configuration's values, then K-1 "
                                              "random ones."),
    seed: int = typer.Option(0, min=0, help="Seed of the random starts."),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("runs/calibrate-smm"), help="Folder for fit.csv, moments.csv, fit.json, fit.png."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print {params, se, loss, converged, moments, starts, path} "
                                                      "as JSON."),
) -> None:
    """Simulated method of moments: the parameters whose continuum moments are closest to the targets.

    Minimises J = sum of ((model - target) / se)^2 by Levenberg-Marquardt with the continuum's Jacobian (JAX
    forward mode through its solves), from K starts; standard errors by the sandwich formula. PMIR's moments are
    held out (no usable derivative) and reported at the fit. docs/model.md §12.
    """
    import pandas as pd

    from calibration.parameters import parse_params
    from calibration.smm import check_smm, plot_fit, smm_fit
    from sdce.atomic import write_text_atomic
    from sdce.run_folder import RECORD, claim_folder

    with clean_errors():
        chosen, names = _targets(targets), parse_params(params)
        cfg = load_config(config)
        check_smm(chosen, names, starts)
        claim_folder(out, {"command": "sdce calibrate smm", "config": cfg.model_dump(mode="json"), "params": names,
                           "starts": starts, "seed": seed, "targets": [t.__dict__ for t in chosen]},
                     RECORD, "an SMM fit", force=force)
        announce(out)
        with progress_bar() as progress:
            task = progress.add_task("smm: compiling the continuum's Jacobian", total=None)
            fit = smm_fit(cfg, chosen, names, starts=starts, seed=seed,
                          on_evaluation=lambda: progress.update(task, advance=1, description="smm: evaluations"))
    rows = [{"param": n, "value": fit.params[n], "se": fit.se[n], "lo": fit.bounds[n][0], "hi": fit.bounds[n][1]}
            for n in names]
    write_text_atomic(out / "fit.csv", pd.DataFrame(rows).to_csv(index=False))
    write_text_atomic(out / "moments.csv", pd.DataFrame(fit.moments).to_csv(index=False))
    summary = {**fit.as_json(), "path": str(out)}
    write_text_atomic(out / "fit.json", dumps(summary, indent=2))
    plot_fit(fit, f"SMM fit to {targets if targets == 'paper' else Path(targets).name}: J = {fit.loss:.4g}"
                  f"{'' if fit.converged else ' (no start converged)'}", out / "fit.png")
    if as_json:
        print_json(summary)
        return
    print_table(f"SMM fit (J = {fit.loss:.4g}, {'converged' if fit.converged else 'NOT converged'}) -> {out}",
                ("parameter", "value", "se", "admissible"),
                ([r["param"], f"{r['value']:.4g}", f"{r['se']:.3g}", f"({r['lo']:g}, {r['hi']:g})"] for r in rows),
                first_left=True)
    print_table("moments at the fit", ("moment", "target", "se", "fitted", "z", "in fit"),
                ([r["moment"], *(format(r[k], ".4g") for k in ("target", "se", "fitted")), f"{r['z']:+.2f}",
                  "yes" if r["in_fit"] else "held out"] for r in fit.moments), first_left=True)


@calibrate_app.command("bayes", cls=Command)
def calibrate_bayes(
    targets: str = TargetsOpt,
    params: str = ParamsOpt,
    chains: int = typer.Option(4, help="NUTS chains (run vectorised)."),
    draws: int = typer.Option(1000, help="Kept draws per chain."),
    warmup: int = typer.Option(500, help="Adaptation steps per chain (step size, diagonal mass matrix)."),
    seed: int = typer.Option(0, min=0, help="Seed of the chains' starts and of the sampler."),
    ordering_draws: int = typer.Option(32, "--ordering-draws",
                                       help="Posterior draws at which the paper's orderings are checked by forward "
                                            "continuum runs (0: none)."),
    subsidy: str = typer.Option("optimal", help="Table V's subsidy in the ordering runs: a number >= 0, or 'optimal' "
                                                "(s*, eq. 10, at the posterior mean)."),
    init: str = typer.Option("smm", help="Chains' starts: smm (near the SMM fit, jittered) or prior (uniform over "
                                         "the prior's central range)."),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("runs/calibrate-bayes"), help="Folder for posterior.nc, summary.csv, predictive.csv, "
                                                               "bayes.json and the figures."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print {params, divergences, orderings, path, ...} as JSON."),
) -> None:
    """Bayesian calibration: the posterior of the parameters given the targets, by NUTS (numpyro).

    Priors over the admissible ranges (Uniform on (0, 1); LogNormal around the configuration's value on a
    half-line); Gaussian likelihood of the targets with their s.e. Reports R-hat, bulk and tail ESS and divergences
    (ArviZ), the posterior predictive of every target, and the posterior probability of each of the paper's
    Table III and Table V orderings. PMIR's moments stay out of the likelihood. A rerun of the same command resumes
    from DIR/checkpoint.npz. docs/model.md §12.
    """
    from calibration.bayes import bayes_calibration, check_bayes
    from calibration.parameters import parse_params
    from sdce.run_folder import RECORD, claim_folder

    with clean_errors():
        chosen, names = _targets(targets), parse_params(params)
        level = None if subsidy == "optimal" else _subsidy_level(subsidy)
        cfg = load_config(config)
        check_bayes(chosen, names, chains, draws, warmup, ordering_draws, init)
        claim_folder(out, {"command": "sdce calibrate bayes", "config": cfg.model_dump(mode="json"), "params": names,
                           "chains": chains, "draws": draws, "warmup": warmup, "seed": seed, "init": init,
                           "ordering_draws": ordering_draws, "subsidy": subsidy,
                           "targets": [t.__dict__ for t in chosen]}, RECORD, "a Bayesian calibration", force=force)
        announce(out)
        with progress_bar() as progress:
            task = progress.add_task("nuts: " + ("the SMM fit for the starts, then " if init == "smm" else "")
                                     + "compiling the continuum's Jacobian", total=warmup + draws)
            orderings = progress.add_task("orderings: forward runs", total=ordering_draws, visible=False)

            def on_step(done, total):
                phase = "warmup" if done <= warmup else "sampling"
                progress.update(task, completed=done, description=f"nuts ({chains} chains): {phase}")
                if done == total:
                    progress.update(orderings, visible=ordering_draws > 0)

            summary = bayes_calibration(cfg, chosen, names, out, chains=chains, draws=draws, warmup=warmup, seed=seed,
                                        ordering_draws=ordering_draws, subsidy=level, on_step=on_step,
                                        on_draw=lambda: progress.advance(orderings), init=init)
    if as_json:
        print_json(summary)
        return
    print_table(f"posterior ({chains} chains x {draws} draws, {summary['divergences']} divergences) -> {out}",
                ("parameter", "prior", "mean", "sd", "90% HDI", "R-hat", "ESS bulk", "ESS tail"),
                ([n, summary["priors"][n], f"{r['mean']:.4g}", f"{r['sd']:.3g}",
                  f"[{r['hdi_5']:.4g}, {r['hdi_95']:.4g}]", f"{r['r_hat']:.3f}", f"{r['ess_bulk']:.0f}",
                  f"{r['ess_tail']:.0f}"] for n, r in summary["params"].items()), first_left=True)
    print_table("posterior predictive of the targets", ("moment", "target", "se", "mean", "90% interval", "z",
                                                        "P(y_rep >= target)", "in likelihood"),
                ([r["moment"], *(format(r[k], ".4g") for k in ("target", "se", "mean")),
                  f"[{r['q5']:.4g}, {r['q95']:.4g}]", f"{r['z']:+.2f}", f"{r['p_value']:.2f}",
                  "yes" if r["in_fit"] else "held out"] for r in summary["predictive"]), first_left=True)
    if summary["orderings"]:
        print_quantities(f"posterior probability of the paper's orderings ({ordering_draws} draws; Table V levels "
                         + ", ".join(f"{k} {v:.4g}" for k, v in summary["levels"].items()) + ")",
                         summary["orderings"].items())


def _subsidy_level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise ConfigError(f"--subsidy must be 'optimal' or a number >= 0 (got {text!r})")
    return value
