"""`sdce meanfield`, `sdce equilibrium`, `sdce compare`: the N -> infinity limit, its SDCE, the ABM against it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from sdce.atomic import write_text_atomic
from sdce.budget import CONFIG_LABELS, check_abm, check_budget, meanfield_need
from sdce.cli.common import (
    CapOpt,
    ConfigOpt,
    ForceOpt,
    GenerationsOpt,
    JsonOpt,
    LearningRule,
    Policy,
    PolicyOpt,
    Regime,
    RegimeOpt,
    SubsidyOpt,
    TransferOpt,
    WatermarkOpt,
    announce,
    clean_errors,
    configured,
    err,
    int_list,
    print_json,
    print_quantities,
    print_table,
    progress_bar,
    solving,
    stdout,
    with_policy_options,
)
from sdce.config import load_config
from sdce.errors import ConfigError, EquilibriumNotConverged
from sdce.run_folder import RECORD, claim_folder
from sdce.strict_json import dumps


def meanfield(
    config: Optional[Path] = ConfigOpt,
    regime: Optional[Regime] = RegimeOpt,
    generations: Optional[int] = typer.Option(None, show_default=f"{configured('generations')}; 60 with --theorem6",
                                              help="T, generations after generation 0."),
    rule: Optional[LearningRule] = typer.Option(None, show_default=configured("learning_rule"),
                                                help="Learning rule of the limit."),
    grid: Literal["gaussian", "1d", "2d"] = typer.Option(
        "gaussian", help="gaussian: closed form; 1d or 2d: the density on a grid (eq. 8-9)."),
    policy: Optional[Policy] = PolicyOpt,
    subsidy: Optional[str] = SubsidyOpt,
    watermark: Optional[str] = WatermarkOpt,
    royalty_cap: Optional[float] = CapOpt,
    transfer: Optional[float] = TransferOpt,
    theorem6: bool = typer.Option(False, "--theorem6", help="PMIR iterations to an eps-SDCE against eps."),
    out: Path = typer.Option(Path("runs/meanfield"), help="Folder for trajectory.csv, summary.json, figure."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the summary (the keys of `sdce run --json`)."),
) -> None:
    """The deterministic N -> infinity trajectory of the market (docs/model.md §9)."""
    if theorem6:
        from meanfield.theorem6 import check_design, run_theorem6

        with clean_errors():
            stray = {"--regime": regime, "--grid": None if grid == "gaussian" else grid, "--policy": policy,
                     "--subsidy": subsidy, "--watermark": watermark, "--royalty-cap": royalty_cap,
                     "--transfer": transfer}
            given = [name for name, value in stray.items() if value is not None]
            if given:
                raise ConfigError(f"--theorem6 runs the continuum PMIR without a policy on the Gaussian world; "
                                  f"{', '.join(given)} would be ignored: drop {'it' if len(given) == 1 else 'them'}")
            cfg = load_config(config, regime="pmir", learning_rule=rule)
            check_design(generations or 60)
            check_budget("the continuum PMIR", meanfield_need, generations=generations or 60)
            claim_folder(out, {"command": "sdce meanfield --theorem6", "config": cfg.model_dump(mode="json"),
                               "generations": generations or 60}, RECORD, "a Theorem 6 run", force=force)
            announce(out)
            with solving("Theorem 6: continuum PMIR to its SDCE"):
                result = run_theorem6(cfg, out, generations=generations or 60)
        if as_json:
            print_json(result)
        else:
            from meanfield.theorem6 import describe_theorem6

            stdout().print(describe_theorem6(result), highlight=False)
            stdout().print(f"figure: {out}/theorem6.png")
        return
    from meanfield.plots import plot_densities, plot_meanfield
    from meanfield.solve import check_meanfield, meanfield_frame, meanfield_summary, solve_meanfield

    with clean_errors():
        cfg = load_config(config, regime=regime, generations=generations, learning_rule=rule)
        cfg = with_policy_options(cfg, policy, subsidy, watermark, royalty_cap, transfer)
        check_meanfield(cfg, grid)
        check_budget("the mean-field limit", meanfield_need, generations=cfg.generations)
        claim_folder(out, {"command": "sdce meanfield", "config": cfg.model_dump(mode="json"), "grid": grid}, RECORD,
                     "a mean-field run", force=force)
        announce(out)
        with solving(f"mean-field limit ({grid}, {cfg.regime}, {cfg.learning_rule})"):
            result = solve_meanfield(cfg, grid)
    summary = meanfield_summary(cfg, result, grid)
    write_text_atomic(out / "trajectory.csv", meanfield_frame(cfg, result).to_csv())
    write_text_atomic(out / "summary.json", dumps(summary.to_json(), indent=1))
    plot_meanfield(summary, out / "trajectory.png")
    if grid != "gaussian":
        plot_densities(cfg, result, out / "densities.png")
    if as_json:
        print_json(summary.to_json())
        return
    print_table(f"mean-field limit ({grid}) -> {out}",
                ("generation", "rho", "Q", "W2(q̄, p)", "KL(q̄‖p)", "W", "W realized"),
                ([str(t), *(f"{result[k][t]:.4f}" for k in ("rho", "quality", "w2", "kl", "W", "W_realized"))]
                 for t in range(cfg.generations + 1)))


def equilibrium(
    config: Optional[Path] = ConfigOpt,
    regime: Optional[Regime] = RegimeOpt,
    starts: int = typer.Option(8, help="K, random starts (Theorem 1: do they reach the same prices?)."),
    policy: Optional[Policy] = PolicyOpt,
    subsidy: Optional[str] = SubsidyOpt,
    watermark: Optional[str] = WatermarkOpt,
    royalty_cap: Optional[float] = CapOpt,
    transfer: Optional[float] = TransferOpt,
    seed: int = typer.Option(0, min=0, help="Seed of the random starts."),
    accept_unconverged: bool = typer.Option(False, "--accept-unconverged",
                                            help="Report a solve that did not settle instead of stopping (exit 1)."),
    out: Optional[Path] = typer.Option(None, show_default="none: print only",
                                       help="Folder for types.csv (price and provenance by type), equilibrium.json."),
    force: bool = ForceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The continuum SDCE (Definition 1): rho*, Q*, prices and provenance by type, welfare, s* and w*."""
    from meanfield.equilibrium import check_equilibrium, not_converged_detail, solve_equilibrium

    with clean_errors():
        cfg = with_policy_options(load_config(config, regime=regime), policy, subsidy, watermark, royalty_cap, transfer)
        check_equilibrium(cfg, starts, seed)
        if out is not None:
            claim_folder(out, {"command": "sdce equilibrium", "config": cfg.model_dump(mode="json"), "starts": starts,
                               "seed": seed}, RECORD, "an equilibrium", force=force)
            announce(out)
        with solving(f"SDCE of {cfg.regime} from {starts} starts"):
            result = solve_equilibrium(cfg, starts=starts, seed=seed)
        if not result.all_converged:
            if not accept_unconverged:
                raise EquilibriumNotConverged(f"the SDCE of {cfg.regime} did not settle: "
                                              f"{not_converged_detail(result)} (--accept-unconverged reports it)")
            err.print(f"[yellow]warning:[/yellow] not converged: {not_converged_detail(result)}", highlight=False)
    if out is not None:
        write_text_atomic(out / "types.csv", result.to_frame().to_csv(index=False))
        write_text_atomic(out / "equilibrium.json", dumps(result.to_json(), indent=1))
    if as_json:
        print_json(result.to_json())
        return
    r, average = result, result.time_average
    rows = [("rho*", r.rho_star), ("Q*", r.quality_star), ("KL(q*‖p)", r.kl_star), ("s* (eq. 10)", r.s_star),
            ("w* (eq. 12)", r.w_star),
            *((("s* standard error (PMIR's time average)", average.s_star_se),) if average is not None else ()),
            *((f"welfare {k}", v) for k, v in r.welfare.items()),
            ("price by type p10/p50/p90", "/".join(f"{r.price_star[q]:.4f}" for q in ("p10", "p50", "p90"))),
            ("provenance by type p10/p50/p90", "/".join(f"{r.provenance_star[q]:.4f}" for q in ("p10", "p50", "p90"))),
            ("converged (by start)", ", ".join(map(str, r.converged))), ("unique (Theorem 1)", str(r.unique)),
            ("spread across starts", ", ".join(f"{k} {v:.1e}" for k, v in r.start_spread.items())),
            *((f"residual {k}", v) for k, v in r.residuals.items())]
    print_quantities(f"SDCE ({cfg.regime}, {cfg.learning_rule}) from {starts} starts", rows, ".5g")


def compare(
    config: Optional[Path] = ConfigOpt,
    producers: str = typer.Option("64,256,1024,4096,16384", help="Comma-separated N values."),
    seeds: int = typer.Option(8, help="K, seeds per N."),
    rules: str = typer.Option("mle,wgf", help="Learning rules of the ABM to compare (each against both limits)."),
    regime: Optional[Regime] = RegimeOpt,
    generations: Optional[int] = GenerationsOpt,
    out: Path = typer.Option(Path("runs/compare"), help="Folder: runs.csv, paths.csv, summary.json, figures."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """ABM against the mean-field limit as N grows: errors, fitted N^-a with bootstrap intervals, figures."""
    from meanfield.harness import compare as run_compare

    with clean_errors():
        cfg = load_config(config, regime=regime, generations=generations)
        sizes = int_list(producers, "producers")
        rule_list = [r.strip() for r in rules.split(",") if r.strip()]
        check_abm(cfg, f"{seeds * len(rule_list)} ABM runs at the largest N", runs=seeds * len(rule_list),
                  producers=max(sizes), labels={**CONFIG_LABELS, "producers": "--producers",
                                                "generations": "--generations"})
        announce(out)
        with progress_bar() as progress:
            task = progress.add_task("ABM runs", total=len(sizes) * seeds * len(rule_list))
            result = run_compare(cfg, sizes, seeds, out, rule_list, on_run=lambda: progress.advance(task),
                                 force=force)
    if as_json:
        print_json(result.to_json())
        return
    rows = [[f"{rule} / {limit} / {metric}", *(f"{e:.4f}" for e in errors),
             "{estimate:.2f} [{low:.2f}, {high:.2f}]".format(**res["exponent"][metric])]
            for rule, by_limit in result.by_rule.items() for limit, res in by_limit.items()
            for metric, errors in res["errors"].items()]
    print_table(f"ABM -> mean field ({cfg.regime}, {result.seeds} seeds; medians of max_t errors) -> {out}",
                ["ABM rule / limit / metric", *(f"N={n}" for n in result.producers), "a [95%]"], rows,
                first_left=True)
    stdout().print(f"distance between the wgf (paper's eq. 8-9) and mle limits: {result.limit_gap}")
