"""`sdce reproduce table2|table3|table4|table5|all`: the paper's tables, ours beside the published."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.progress import Progress

from sdce.cli.common import (
    Command,
    ConfigOpt,
    ForceOpt,
    RetrainSize,
    abm_panel_with_progress,
    announce,
    check_abm_panel,
    clean_errors,
    command_group,
    err,
    parse_level,
    print_frame,
    progress_bar,
    solving,
    stdout,
)
from sdce.budget import check_abm, check_budget, retrain_need
from sdce.config import SDCEConfig, load_config
from sdce.errors import ConfigError
from sdce.run_folder import check_folder

reproduce_app = command_group(help="Reproduce the paper's tables: ours beside the published.")


def _retrain_progress(progress: Progress, domains, size: str, seeds: int):
    from calibration.retrain.loop import make_retrain_config

    total = sum(len(c.rhos) * c.seeds * (c.generations + 1)
                for c in (make_retrain_config(domain=d, size=size, seeds=seeds) for d in domains))
    task = progress.add_task(f"retraining grids ({size})", total=total)
    return lambda k: progress.advance(task, k)


@reproduce_app.command("table2", cls=Command)
def reproduce_table2(
    size: RetrainSize = typer.Option("small", help="Retraining size: tiny (tests), small (CPU), paper (GPU)."),
    seeds: int = typer.Option(1, help="Retraining replications per domain."),
    abm_seeds: int = typer.Option(4, help="ABM seeds per rho."),
    seed: int = typer.Option(17, min=0, help="First ABM seed."),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("runs/reproduce"), help="Folder: table2.csv, table2.md, retrain/<domain>/."),
    force: bool = ForceOpt,
) -> None:
    """Table II: b-hat (HAC s.e.) for text, images, recsys, the ABM and the pooled fit, beside the paper's."""
    from calibration.reproduce import retraining_configs, retraining_panels, table2
    from calibration.runs import claim_tables_folder

    with clean_errors():
        cfg = load_config(config)
        domains = ("text", "images", "recsys")
        for domain, grid in retraining_configs(domains, size, seeds).items():
            check_budget(f"the {domain} retraining grid", lambda seeds, grid=grid: retrain_need(
                len(grid.rhos), seeds, grid.generations, grid.size), seeds=grid.seeds)
        check_abm_panel(cfg, abm_seeds)
        claim_tables_folder(out, cfg, force=force)
        announce(out)
        with progress_bar() as progress:
            panels = retraining_panels(domains, out, size, seeds, _retrain_progress(progress, domains, size, seeds),
                                       force)
            abm = abm_panel_with_progress(config, abm_seeds, seed, progress, out)
        table = table2(panels, abm, out)
    print_frame(table, f"Table II: ours beside the paper's -> {out}/table2.md")


@reproduce_app.command("table4", cls=Command)
def reproduce_table4(
    abm_seeds: int = typer.Option(4, help="ABM seeds per rho."),
    seed: int = typer.Option(17, min=0, help="First ABM seed."),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("runs/reproduce"), help="Folder: table4.csv, table4.md, table4.png."),
    force: bool = ForceOpt,
) -> None:
    """Table IV: the ABM's Q_t(rho)/Q_0 at fixed rho beside the paper's, and eq. (15) fitted to both."""
    from calibration.reproduce import table4
    from calibration.runs import claim_tables_folder

    with clean_errors():
        cfg = load_config(config)
        check_abm_panel(cfg, abm_seeds)
        claim_tables_folder(out, cfg, force=force)
        announce(out)
        with progress_bar() as progress:
            abm = abm_panel_with_progress(config, abm_seeds, seed, progress, out)
        long = table4(abm, out)
    print_frame(long, f"Table IV: ours beside the paper's -> {out}/table4.md")
    import pandas as pd

    print_frame(pd.read_csv(out / "table4_fit.csv"), "eq. (15) fitted")


WorkersOpt = typer.Option(None, "--workers", show_default="all cores", help="Processes running the simulations.")


PaperSeedsOpt = typer.Option(32, "--seeds", help="K: the first K of the paper's 32 replication seeds.")


TablesOutOpt = typer.Option(Path("runs/reproduce"), "--out",
                            help="Folder: runs.csv (resumable), tableN.csv, tableN_summary.csv, tableN.md, .png.")


def _print_result(result: dict, key: str, title: str) -> None:
    from calibration.tables import cells, describe

    print_frame(cells(result["summary"], key, result["labels"]), title)
    console = stdout()
    for line in [*(describe(c) for c in result["orderings"]), result.get("cv")]:
        if line:
            console.print(line.replace("**", ""), highlight=False)


def _reproduce_table(config: Optional[Path], seeds: int, workers: Optional[int], out: Path, force: bool, name: str,
                     stem: str, cells: dict, build, key: str, resolve=lambda cfg: {}) -> None:
    """Tables III and V: simulate the `cells` (the regimes or policies keyword of `simulate`, with what
    `resolve(cfg)` adds once the folder is claimed) over the paper's first seeds, tabulate with `build`, and print
    ours beside the paper's."""
    from calibration.reproduce_all import runs_progress
    from calibration.runs import claim_tables_folder, planned_runs, seed_list, simulate

    with clean_errors():
        cfg = load_config(config)
        chosen = seed_list(seeds)
        runs = len(planned_runs(chosen, **cells)[1])
        check_abm(cfg, f"{runs} ABM runs", runs=runs)
        claim_tables_folder(out, cfg, force=force)
        announce(out)
        plan = {**cells, **resolve(cfg)}
        with progress_bar() as progress:
            runs = simulate(cfg, chosen, out, workers=workers, on_progress=runs_progress(progress, f"{name} runs"),
                            force=force, **plan)
        result = build(runs, out, cfg)
    _print_result(result, key, f"{name}: ours (paper) -> {out}/{stem}.md")


def _subsidy_level(subsidy: str) -> float | str:
    """Table V's subsidy option: a finite number >= 0, or 'optimal' (s*, solved once the work starts)."""
    level = parse_level(subsidy, "subsidy")
    if isinstance(level, float) and not (math.isfinite(level) and level >= 0):
        raise ConfigError(f"--subsidy: expected a finite number >= 0 or 'optimal', got {subsidy!r}")
    return level


@reproduce_app.command("table3", cls=Command)
def reproduce_table3(
    seeds: int = PaperSeedsOpt,
    regimes: Optional[str] = typer.Option(None, show_default="the paper's five", help="Comma-separated regimes."),
    workers: Optional[int] = WorkersOpt,
    config: Optional[Path] = ConfigOpt,
    out: Path = TablesOutOpt,
    force: bool = ForceOpt,
) -> None:
    """Table III: Q (rel.), W2, rho_T, ΔW at generation T by regime over the paper's seeds, beside the paper's."""
    from calibration.runs import TABLE3_REGIMES
    from calibration.tables import table3

    with clean_errors():
        names = TABLE3_REGIMES if regimes is None else [r.strip() for r in regimes.split(",") if r.strip()]
        if not names:
            raise ConfigError("--regimes: empty list")
    _reproduce_table(config, seeds, workers, out, force, "Table III", "table3", {"regimes": names}, table3, "regime")


@reproduce_app.command("table5", cls=Command)
def reproduce_table5(
    seeds: int = PaperSeedsOpt,
    subsidy: str = typer.Option("optimal", help="s, or 'optimal': s* (eq. 10) at the continuum SDCE."),
    workers: Optional[int] = WorkersOpt,
    config: Optional[Path] = ConfigOpt,
    out: Path = TablesOutOpt,
    force: bool = ForceOpt,
) -> None:
    """Table V: no intervention, subsidy s*, disclosure, royalty cap, transfer on pmir, beside the paper's."""
    from calibration.runs import TABLE5_POLICIES
    from calibration.tables import table5, table5_subsidy

    with clean_errors():
        level = _subsidy_level(subsidy)

    def resolve(cfg: SDCEConfig) -> dict:
        with solving("s* (eq. 10): solving the continuum SDCE of pmir"):
            return {"subsidy": table5_subsidy(cfg, level)}

    def build(runs, out: Path, cfg: SDCEConfig) -> dict:
        return table5(runs, out, cfg, subsidy_rule="optimal" if level == "optimal" else "given")

    _reproduce_table(config, seeds, workers, out, force, "Table V", "table5", {"policies": TABLE5_POLICIES}, build,
                     "policy", resolve)


@reproduce_app.command("all", cls=Command)
def reproduce_all(
    out: Optional[Path] = typer.Option(None, show_default="runs/reproduce-all; runs/reproduce-quick with --quick",
                                       help="Folder for everything and report.md."),
    quick: bool = typer.Option(False, "--quick", help="A first look: 3 seeds, N = 128, M = 4, tiny retraining over "
                                                      "3 generations."),
    subsidy: str = typer.Option("optimal", help="Table V's subsidy: s, or 'optimal': s* (eq. 10) at the continuum "
                                                "SDCE of pmir."),
    workers: Optional[int] = WorkersOpt,
    force: bool = ForceOpt,
) -> None:
    """Tables II-V, Theorems 2, 4, 5, 6 and the SMM calibration into DIR/report.md, ours beside the paper's.

    Default: Table I (N = 1024, M = 16, T = 10), the paper's 32 seeds, tiny retraining; under 15 minutes on 2 cores.
    Each section is written to DIR/sections/ as soon as it is done; a section that fails is reported with its error
    in report.md and the run goes on (exit 1, naming the failed sections). A rerun resumes: finished sections, runs
    and retraining generations are kept.
    """
    from calibration.reproduce_all import reproduce_report

    with clean_errors():
        level = _subsidy_level(subsidy)
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers: must be >= 1 (got {workers})")
        folder = check_folder(out or Path("runs/reproduce-quick" if quick else "runs/reproduce-all"))
        announce(folder)
        with progress_bar() as progress:
            done = reproduce_report(folder, quick, level, subsidy, workers, progress, force)
    console = stdout()
    for line in done.glance:
        console.print(line.replace("**", ""), highlight=False)
    console.print(f"{done.report} ({done.wall:.0f} s)")
    if done.failed:
        err.print("[red]error:[/red] failed sections: " + "; ".join(f"{k} ({v})" for k, v in done.failed.items()),
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)
