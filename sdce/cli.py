"""The `sdce` command line: run the market, compare the regimes, run the collapse chain, show the configuration."""

from __future__ import annotations

import json
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdce.config import REGIMES, ConfigError, SDCEConfig, config_toml, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Simulate synthetic-data markets under model collapse (SDCE).")
config_app = typer.Typer(no_args_is_help=True, help="Show or check configurations.")
app.add_typer(config_app, name="config")
calibrate_app = typer.Typer(no_args_is_help=True, help="Estimate the collapse law and calibrate the model.")
app.add_typer(calibrate_app, name="calibrate")
reproduce_app = typer.Typer(no_args_is_help=True, help="Reproduce the paper's tables: ours beside the published.")
app.add_typer(reproduce_app, name="reproduce")
policy_app = typer.Typer(no_args_is_help=True, help="Policy instruments (MODEL.md §7): sweeps of their levels.")
app.add_typer(policy_app, name="policy")
err = Console(stderr=True, soft_wrap=True)


def _out() -> Console:
    """Standard output wide enough for the tables even when it is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=160)

ConfigOpt = typer.Option(None, "--config", help="TOML file of parameters (see `sdce config show`).")
PolicyOpt = typer.Option(None, "--policy", help="none|subsidy|disclosure|royalty-cap|transfer|watermark.")
SubsidyOpt = typer.Option(None, "--subsidy", help="s per unit of perceived human content, or 'optimal' (eq. 10).")
WatermarkOpt = typer.Option(None, "--watermark", help="Watermark strength w, or 'optimal' (eq. 12).")
CapOpt = typer.Option(None, "--royalty-cap", help="p̄, cap on the royalty charged.")
TransferOpt = typer.Option(None, "--transfer", help="Lump sum per producer, levied on trainers.")


def _level(text: Optional[str], name: str) -> float | str | None:
    if text is None or text == "optimal":
        return text
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--{name}: expected a number >= 0 or 'optimal', got {text!r}") from None


def _with_policy(cfg: SDCEConfig, policy: Optional[str], subsidy: Optional[str], watermark: Optional[str],
                 royalty_cap: Optional[float], transfer: Optional[float]) -> SDCEConfig:
    """Apply the policy options; 'optimal' is s* or w* at the SDCE of the configuration without a policy."""
    levels = {"subsidy": _level(subsidy, "subsidy"), "watermark": _level(watermark, "watermark"),
              "royalty_cap": royalty_cap, "transfer": transfer}
    changes = {k: v for k, v in {"policy": policy, **levels}.items() if v is not None}
    if "optimal" in changes.values():
        from meanfield.equilibrium import closed_form_policy_levels

        optimum = closed_form_policy_levels(cfg.replace(**{k: v for k, v in changes.items() if v != "optimal"}))
        changes = {k: (optimum["s_star" if k == "subsidy" else "w_star"] if v == "optimal" else v)
                   for k, v in changes.items()}
    return cfg.replace(**changes) if changes else cfg


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Bad input and failed numerics end with one readable line and a non-zero exit, never a traceback."""
    from meanfield.equilibrium import EquilibriumNotConverged
    from meanfield.solve import MeanFieldDiverged
    from sdce.dataworld.metrics import SinkhornNotConverged
    from sdce.economics.demand import DemandNotConverged

    try:
        yield
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except (SinkhornNotConverged, DemandNotConverged, MeanFieldDiverged, EquilibriumNotConverged) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def _simulate(cfg: SDCEConfig, seed: int, out: Path, progress: Progress, label: str) -> dict:
    from sdce_abm.model import SDCEModel
    from sdce_abm.output import run_to_folder

    task = progress.add_task(label, total=cfg.generations)
    model = SDCEModel(config=cfg, seed=seed)
    return run_to_folder(model, out, on_generation=lambda t: progress.update(task, completed=t))


def _summary_table(rows: dict[str, dict], title: str) -> Table:
    table = Table(title=title)
    for col in ("regime", "rho_0", "rho_T", "Q_T", "Q_T rel.", "W2_T", "KL_T", "W_T", "ΔW_T", "W realized_T"):
        table.add_column(col, justify="right")
    base = rows.get("unregulated")
    for name, s in rows.items():
        w = s["welfare"]
        rel = f"{s['quality'][-1] / base['quality'][-1]:.3f}" if base else "-"
        dw = f"{w['W'] - base['welfare']['W']:+.3f}" if base else "-"
        table.add_row(name, f"{s['rho'][0]:.3f}", f"{s['rho'][-1]:.3f}", f"{s['quality'][-1]:.3f}", rel,
                      f"{s['w2'][-1]:.3f}", f"{s['kl'][-1]:.4f}", f"{w['W']:.3f}", dw, f"{w['W_realized']:.3f}")
    return table


@app.command()
def run(
    config: Optional[Path] = ConfigOpt,
    regime: Optional[str] = typer.Option(None, help="|".join(REGIMES)),
    seed: int = typer.Option(17, help="Seed of the run."),
    producers: Optional[int] = typer.Option(None, help="N, number of producers."),
    trainers: Optional[int] = typer.Option(None, help="M, number of trainers."),
    generations: Optional[int] = typer.Option(None, help="T, generations after generation 0."),
    policy: Optional[str] = PolicyOpt,
    subsidy: Optional[str] = SubsidyOpt,
    watermark: Optional[str] = WatermarkOpt,
    royalty_cap: Optional[float] = CapOpt,
    transfer: Optional[float] = TransferOpt,
    out: Path = typer.Option(Path("runs/run"), help="Run folder to write."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Run one simulation and write DIR/trajectory.csv, DIR/summary.json and DIR/trajectory.png."""
    with _clean_errors():
        cfg = load_config(config, regime=regime, n_producers=producers, n_trainers=trainers,
                          generations=generations)
        cfg = _with_policy(cfg, policy, subsidy, watermark, royalty_cap, transfer)
        with _progress() as progress:
            result = _simulate(cfg, seed, out, progress, f"{cfg.regime} (seed {seed})")
    if any(result["numerics"].values()):
        err.print(f"[yellow]warning:[/yellow] guarded numerics in this run: {result['numerics']} (summary.json)",
                  highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        _out().print(_summary_table({cfg.regime: result}, f"sdce run -> {out}"))


@app.command()
def regimes(
    config: Optional[Path] = ConfigOpt,
    seed: int = typer.Option(17, help="Seed shared by all regimes."),
    out: Path = typer.Option(Path("runs/regimes"), help="Folder: one run folder per regime plus a comparison."),
    as_json: bool = typer.Option(False, "--json", help="Print {regime: summary} as one JSON object."),
) -> None:
    """The main job: a Table I-scale simulation under every regime, with a comparison table and figure.

    A regime whose run folder already holds a summary for the same configuration and seed is not rerun.
    """
    from sdce_abm.plots import plot_regime_comparison

    results: dict[str, dict] = {}
    with _clean_errors():
        base = load_config(config)
        with _progress() as progress:
            for name in REGIMES:
                cfg = base.replace(regime=name)
                folder = out / name
                done = folder / "summary.json"
                if done.exists():
                    previous = json.loads(done.read_text())
                    if previous["config"] == cfg.model_dump(mode="json") and previous["seed"] == seed:
                        results[name] = previous
                        continue
                results[name] = _simulate(cfg, seed, folder, progress, f"{name} (seed {seed})")
    plot_regime_comparison(results, out / "comparison.png")
    if as_json:
        sys.stdout.write(json.dumps(results) + "\n")
        return
    console = _out()
    console.print(_summary_table(results, f"Generation-{base.generations} outcomes by regime (seed {seed})"))
    console.print(f"run folders and comparison.png in {out}/")


@app.command()
def collapse(
    family: Optional[str] = typer.Option(None, help="Model family: gaussian|gmm."),
    components: Optional[int] = typer.Option(None, help="K, components of the gmm family."),
    human: Optional[str] = typer.Option(None, help="p: gaussian|gmm (default: same as family)."),
    rule: Optional[str] = typer.Option(None, help="Learning rule: mle|wgf."),
    train_time: Optional[float] = typer.Option(None, help="Training time of the wgf rule (inf = minimiser)."),
    rho: Optional[float] = typer.Option(None, help="Synthetic share of each generation's samples, in [0, 1]."),
    tau: Optional[float] = typer.Option(None, help="Sampling temperature, in (0, 1]."),
    samples: Optional[int] = typer.Option(None, help="n, new samples per generation."),
    generations: Optional[int] = typer.Option(None, help="G, generations after generation 0."),
    reps: Optional[int] = typer.Option(None, help="Independent replications."),
    dim: Optional[int] = typer.Option(None, help="d, dimension."),
    data_mode: Optional[str] = typer.Option(None, help="replace|accumulate."),
    seed: Optional[int] = typer.Option(None, help="Seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-generation means as one JSON object."),
) -> None:
    """The recursive-retraining chain with no market: mean over reps of ‖mean‖, tr cov, KL(q_t‖p), W2(q_t, p)."""
    from sdce.collapse import collapse_chain, make_collapse_config

    with _clean_errors():
        cfg = make_collapse_config(family=family, components=components, human=human, rule=rule,
                                   train_time=train_time, rho=rho, tau=tau, samples=samples,
                                   generations=generations, reps=reps, dim=dim, data_mode=data_mode, seed=seed)
        result = collapse_chain(cfg, progress=not as_json)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(title=f"collapse chain: rho={cfg.rho}, tau={cfg.tau}, n={cfg.samples}, {cfg.rule}, "
                        f"{cfg.data_mode}, {cfg.reps} reps")
    for col in ("generation", "‖mean‖", "tr cov", "KL(q‖p)", "W2(q, p)"):
        table.add_column(col, justify="right")
    step = max(1, cfg.generations // 10)
    for t in [*range(0, cfg.generations, step), cfg.generations]:
        table.add_row(str(t), *(f"{result[k][t]:.4f}" for k in ("mean_norm", "cov_trace", "kl", "w2")))
    _out().print(table)


def _int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{name}: empty list")
    return values


@app.command()
def meanfield(
    config: Optional[Path] = ConfigOpt,
    regime: Optional[str] = typer.Option(None, help="|".join(REGIMES)),
    generations: Optional[int] = typer.Option(None, help="T, generations after generation 0."),
    rule: Optional[str] = typer.Option(None, help="Learning rule of the limit: mle|wgf."),
    grid: str = typer.Option("gaussian", help="gaussian (closed form) | 1d | 2d (density on a grid, eq. 8-9)."),
    policy: Optional[str] = PolicyOpt,
    subsidy: Optional[str] = SubsidyOpt,
    watermark: Optional[str] = WatermarkOpt,
    royalty_cap: Optional[float] = CapOpt,
    transfer: Optional[float] = TransferOpt,
    theorem6: bool = typer.Option(False, "--theorem6", help="PMIR iterations to an eps-SDCE against eps."),
    out: Path = typer.Option(Path("runs/meanfield"), help="Folder for trajectory.csv, summary.json, figure."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary (the keys of `sdce run --json`)."),
) -> None:
    """The deterministic N -> infinity trajectory of the market (MODEL.md §9)."""
    if theorem6:
        from meanfield.theorem6 import run_theorem6

        with _clean_errors():
            cfg = load_config(config, regime="pmir", learning_rule=rule)
            with err.status("Theorem 6: continuum PMIR to its SDCE"):
                result = run_theorem6(cfg, out, generations=generations or 60)
        if as_json:
            print(json.dumps(result))
        else:
            _out().print(f"iterations to an eps-SDCE: {dict(zip(result['epsilon'], result['iterations']))}; fitted "
                         f"slope {result['slope']:.2f} (claimed {result['claimed_slope']:.0f}) {result['note']}")
            _out().print(f"figure: {out}/theorem6.png")
        return
    from meanfield.plots import plot_meanfield
    from meanfield.solve import meanfield_summary, solve_meanfield

    with _clean_errors():
        cfg = load_config(config, regime=regime, generations=generations, learning_rule=rule)
        cfg = _with_policy(cfg, policy, subsidy, watermark, royalty_cap, transfer)
        with err.status(f"mean-field limit ({grid}, {cfg.regime}, {cfg.learning_rule})"):
            result = solve_meanfield(cfg, grid)
    summary = meanfield_summary(cfg, result, grid)
    out.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    columns = ("rho", "quality", "price", "provenance", "provenance_p10", "provenance_p50", "provenance_p90",
               "kl", "w2", "w2_moments", "W_prod", "W_cons", "L_coll", "L_info", "policy_cost", "W", "W_realized",
               "residual")
    frame = pd.DataFrame({c: result[c] for c in columns}).rename_axis("generation")
    for name in ("quality_j", "fidelity_j"):
        for j in range(cfg.n_trainers):
            frame[f"{name}{j}"] = result[name][:, j]
    frame.to_csv(out / "trajectory.csv")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    plot_meanfield(summary, out / "trajectory.png")
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    table = Table(title=f"mean-field limit ({grid}) -> {out}")
    for col in ("generation", "rho", "Q", "W2(q̄, p)", "KL(q̄‖p)", "W", "W realized"):
        table.add_column(col, justify="right")
    for t in range(cfg.generations + 1):
        table.add_row(str(t), *(f"{result[k][t]:.4f}" for k in ("rho", "quality", "w2", "kl", "W", "W_realized")))
    _out().print(table)


@app.command()
def equilibrium(
    config: Optional[Path] = ConfigOpt,
    regime: Optional[str] = typer.Option(None, help="|".join(REGIMES)),
    starts: int = typer.Option(8, help="K, random starts (Theorem 1: do they reach the same prices?)."),
    policy: Optional[str] = PolicyOpt,
    subsidy: Optional[str] = SubsidyOpt,
    watermark: Optional[str] = WatermarkOpt,
    royalty_cap: Optional[float] = CapOpt,
    transfer: Optional[float] = TransferOpt,
    seed: int = typer.Option(0, help="Seed of the random starts."),
    accept_unconverged: bool = typer.Option(False, "--accept-unconverged",
                                            help="Report a solve that did not settle instead of stopping (exit 1)."),
    out: Optional[Path] = typer.Option(None, help="Folder for types.csv (price and provenance by type)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """The continuum SDCE (Definition 1): rho*, Q*, prices and provenance by type, welfare, s* and w*."""
    from meanfield.equilibrium import EquilibriumNotConverged, not_converged_detail, solve_equilibrium

    with _clean_errors():
        cfg = _with_policy(load_config(config, regime=regime), policy, subsidy, watermark, royalty_cap, transfer)
        if starts < 1:
            raise ConfigError(f"--starts: starts must be >= 1 (got {starts})")
        with err.status(f"SDCE of {cfg.regime} from {starts} starts"):
            result = solve_equilibrium(cfg, starts=starts, seed=seed)
        if not all(result["converged"]):
            if not accept_unconverged:
                raise EquilibriumNotConverged(f"the SDCE of {cfg.regime} did not settle: "
                                              f"{not_converged_detail(result)} (--accept-unconverged reports it)")
            err.print(f"[yellow]warning:[/yellow] not converged: {not_converged_detail(result)}", highlight=False)
    types = result.pop("types")
    if out is not None:
        import pandas as pd

        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(types).to_csv(out / "types.csv", index=False)
        (out / "equilibrium.json").write_text(json.dumps(result, indent=1))
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(title=f"SDCE ({cfg.regime}, {cfg.learning_rule}) from {starts} starts")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [("rho*", result["rho_star"]), ("Q*", result["quality_star"]), ("KL(q*‖p)", result["kl_star"]),
            ("s* (eq. 10)", result["s_star"]), ("w* (eq. 12)", result["w_star"]),
            *((("s* standard error (PMIR's time average)", result["s_star_se"]),) if "s_star_se" in result else ()),
            *((f"welfare {k}", v) for k, v in result["welfare"].items()),
            ("price by type p10/p50/p90", "/".join(f"{result['price_star'][q]:.4f}" for q in ("p10", "p50", "p90"))),
            ("provenance by type p10/p50/p90",
             "/".join(f"{result['provenance_star'][q]:.4f}" for q in ("p10", "p50", "p90"))),
            ("converged (by start)", ", ".join(map(str, result["converged"]))),
            ("unique (Theorem 1)", str(result["unique"])),
            ("spread across starts", ", ".join(f"{k} {v:.1e}" for k, v in result["start_spread"].items())),
            *((f"residual {k}", v) for k, v in result["residuals"].items())]
    for name, value in rows:
        table.add_row(name, f"{value:.5g}" if isinstance(value, float) else str(value))
    _out().print(table)


@app.command()
def compare(
    config: Optional[Path] = ConfigOpt,
    producers: str = typer.Option("64,256,1024,4096,16384", help="Comma-separated N values."),
    seeds: int = typer.Option(8, help="K, seeds per N."),
    rules: str = typer.Option("mle,wgf", help="Learning rules of the ABM to compare (each against both limits)."),
    generations: Optional[int] = typer.Option(None, help="T, generations after generation 0."),
    out: Path = typer.Option(Path("runs/compare"), help="Folder: runs.csv, paths.csv, summary.json, figures."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """ABM against the mean-field limit as N grows: errors, fitted N^-a with bootstrap intervals, figures."""
    from meanfield.harness import compare as run_compare

    with _clean_errors():
        cfg = load_config(config, generations=generations)
        sizes = _int_list(producers, "producers")
        rule_list = [r.strip() for r in rules.split(",") if r.strip()]
        with _progress() as progress:
            task = progress.add_task("ABM runs", total=len(sizes) * seeds * len(rule_list))
            result = run_compare(cfg, sizes, seeds, out, rule_list, on_run=lambda: progress.advance(task))
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(title=f"ABM -> mean field ({result['seeds']} seeds; medians of max_t errors) -> {out}")
    table.add_column("ABM rule / limit / metric")
    for n in result["producers"]:
        table.add_column(f"N={n}", justify="right")
    table.add_column("a [95%]", justify="right")
    for rule, by_limit in result["by_rule"].items():
        for limit, res in by_limit.items():
            for metric, errors in res["errors"].items():
                fit = res["exponent"][metric]
                table.add_row(f"{rule} / {limit} / {metric}", *(f"{e:.4f}" for e in errors),
                              f"{fit['estimate']:.2f} [{fit['low']:.2f}, {fit['high']:.2f}]")
    console = _out()
    console.print(table)
    console.print(f"distance between the wgf (paper's eq. 8-9) and mle limits: {result['limit_gap']}")


def _metric_table(panel, metric: str, title: str) -> Table:
    table = Table(title=title)
    means = panel[panel["metric"] == metric].pivot_table(index="generation", columns="rho", values="value")
    table.add_column("generation")
    for rho in means.columns:
        table.add_column(f"rho={rho:g}", justify="right")
    for t, row in means.iterrows():
        table.add_row(str(t), *(f"{v:.4g}" for v in row))
    return table


@app.command()
def retrain(
    domain: str = typer.Option("text", help="text | images | recsys (MODEL.md §11)."),
    rho: str = typer.Option("0.1,0.3,0.5,0.7,0.9", help="Comma-separated contamination ratios in [0, 1]."),
    generations: int = typer.Option(10, help="T, generations after generation 0."),
    seeds: int = typer.Option(1, help="K, replications."),
    seed: int = typer.Option(0, help="First seed."),
    tau: float = typer.Option(0.8, help="Sampling temperature of the synthetic data, in (0, 1]."),
    data_mode: str = typer.Option("replace", help="replace | accumulate."),
    size: str = typer.Option("small", help="tiny (tests) | small (CPU, default) | paper (GPU)."),
    out: Optional[Path] = typer.Option(None, help="Run folder [default: runs/retrain/DOMAIN-SIZE]."),
    as_json: bool = typer.Option(False, "--json", help="Print {panel: records, path} as one JSON object."),
) -> None:
    """Recursive retraining: each generation a fresh model on (1-rho) fresh human data and rho synthetic data.

    Writes DIR/panel.csv (domain, rho, generation, seed, metric, value) and DIR/panel.png. Every finished
    generation is checkpointed; rerunning the same command resumes.
    """
    from calibration.retrain.loop import build_domain, make_retrain_config, run_retraining
    from calibration.retrain.plots import plot_panel

    with _clean_errors():
        cfg = make_retrain_config(domain=domain, rhos=rho, generations=generations, seeds=seeds, seed=seed, tau=tau,
                                  data_mode=data_mode, size=size)
        folder = out or Path("runs/retrain") / f"{cfg.domain}-{cfg.size}"
        with _progress() as progress:
            task = progress.add_task(f"retrain {cfg.domain} ({cfg.size})",
                                     total=len(cfg.rhos) * cfg.seeds * (cfg.generations + 1))
            panel = run_retraining(cfg, folder, on_cells=lambda k: progress.advance(task, k))
    figure = plot_panel(panel, folder / "panel.png", f"{cfg.domain}: tau={cfg.tau}, {cfg.data_mode}, {cfg.size}")
    if as_json:
        sys.stdout.write(json.dumps({"panel": panel.to_dict("records"), "path": str(folder / "panel.csv"),
                                     "figure": str(figure)}) + "\n")
        return
    metric = build_domain(cfg.domain, cfg.size).metrics[0]
    _out().print(_metric_table(panel, metric, f"{cfg.domain}: {metric} (mean over {cfg.seeds} seeds) -> {folder}"))


@calibrate_app.command("ols")
def calibrate_ols(
    panel: Optional[Path] = typer.Option(None, help="Panel CSV (columns rho, generation, metric, value)."),
    source: Optional[str] = typer.Option(None, help="paper-table4 (the published Table IV) | abm (run our ABM)."),
    metric: Optional[str] = typer.Option(None, help="Metric to regress [default: the panel's headline metric]."),
    min_generation: int = typer.Option(1, help="Use generations t >= this."),
    maxlags: Optional[int] = typer.Option(None, help="HAC lags [default: Newey-West (1994) rule]."),
    config: Optional[Path] = ConfigOpt,
    seeds: int = typer.Option(4, help="abm: seeds per rho."),
    seed: int = typer.Option(17, help="abm: first seed."),
    out: Path = typer.Option(Path("runs/calibrate"), help="abm: folder for abm_panel.csv."),
    as_json: bool = typer.Option(False, "--json", help="Print the fit (b, se_hac, r2, n, ...) as JSON."),
) -> None:
    """Eq. (13)/(15): OLS of log metric on t·rho² with Newey-West HAC errors (statsmodels)."""
    from calibration.ols import collapse_law_ols, load_panel
    from calibration.published import table4_panel

    with _clean_errors():
        if (panel is None) == (source is None):
            raise ConfigError("give exactly one of --panel FILE or --source paper-table4|abm")
        if source not in (None, "paper-table4", "abm"):
            raise ConfigError(f"--source: unknown source {source!r}; choose paper-table4 or abm")
        if panel is not None:
            frame = load_panel(panel)
        elif source == "paper-table4":
            frame = table4_panel()
        else:
            with _progress() as progress:
                frame = _abm_panel(config, seeds, seed, progress, out)
        fit = collapse_law_ols(frame, metric, min_generation=min_generation, maxlags=maxlags)
    if as_json:
        sys.stdout.write(json.dumps(fit) + "\n")
        return
    table = Table(title=f"eq. (13)/(15): log {fit['metric']} = a0 + slope t rho^2 (b = {fit['direction']:+d} x slope)")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in ("b", "se_hac", "se_ols", "t_stat", "p_value", "r2", "n", "lag_rule"):
        value = fit[key]
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    _out().print(table)


def _retrain_progress(progress: Progress, domains, size: str, seeds: int):
    from calibration.retrain.loop import make_retrain_config

    total = sum(len(c.rhos) * c.seeds * (c.generations + 1)
                for c in (make_retrain_config(domain=d, size=size, seeds=seeds) for d in domains))
    task = progress.add_task(f"retraining grids ({size})", total=total)
    return lambda k: progress.advance(task, k)


def _abm_panel(config: Optional[Path], seeds: int, seed: int, progress: Progress, out: Path):
    from calibration.abm_panel import abm_collapse_panel
    from calibration.published import TABLE_IV_RHOS

    if seeds < 1:
        raise ConfigError(f"ABM seeds per rho must be >= 1; got {seeds}")
    cfg = load_config(config)
    task = progress.add_task("ABM at fixed rho", total=len(TABLE_IV_RHOS) * seeds)
    frame = abm_collapse_panel(cfg, TABLE_IV_RHOS, range(seed, seed + seeds), on_run=lambda: progress.advance(task))
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "abm_panel.csv", index=False)
    return frame


@reproduce_app.command("table2")
def reproduce_table2(
    size: str = typer.Option("small", help="Retraining size: tiny | small | paper."),
    seeds: int = typer.Option(1, help="Retraining replications per domain."),
    abm_seeds: int = typer.Option(4, help="ABM seeds per rho."),
    seed: int = typer.Option(17, help="First ABM seed."),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("runs/reproduce"), help="Folder: table2.csv, table2.md, retrain/<domain>/."),
) -> None:
    """Table II: b-hat (HAC s.e.) for text, images, recsys, the ABM and the pooled fit, beside the paper's."""
    from calibration.reproduce import retraining_panels, table2

    with _clean_errors():
        domains = ("text", "images", "recsys")
        with _progress() as progress:
            panels = retraining_panels(domains, out, size, seeds, _retrain_progress(progress, domains, size, seeds))
            abm = _abm_panel(config, abm_seeds, seed, progress, out)
        table = table2(panels, abm, out)
    _print_frame(table, f"Table II: ours beside the paper's -> {out}/table2.md")


@reproduce_app.command("table4")
def reproduce_table4(
    abm_seeds: int = typer.Option(4, help="ABM seeds per rho."),
    seed: int = typer.Option(17, help="First ABM seed."),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("runs/reproduce"), help="Folder: table4.csv, table4.md, table4.png."),
) -> None:
    """Table IV: the ABM's Q_t(rho)/Q_0 at fixed rho beside the paper's, and eq. (15) fitted to both."""
    from calibration.reproduce import table4

    with _clean_errors():
        with _progress() as progress:
            abm = _abm_panel(config, abm_seeds, seed, progress, out)
        long = table4(abm, out)
    _print_frame(long, f"Table IV: ours beside the paper's -> {out}/table4.md")
    import pandas as pd

    _print_frame(pd.read_csv(out / "table4_fit.csv"), "eq. (15) fitted")


def _print_frame(frame, title: str) -> None:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if v is None or (isinstance(v, float) and v != v) else
                        f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    _out().print(table)


WorkersOpt = typer.Option(None, "--workers", help="Processes running the simulations [default: all cores].")
PaperSeedsOpt = typer.Option(32, "--seeds", help="K: the first K of the paper's 32 replication seeds.")
ABM_FIRST_SEED = 17  # first seed of the fixed-rho ABM panel of Tables II and IV, as `sdce reproduce table4`
TablesOutOpt = typer.Option(Path("runs/reproduce"), "--out",
                            help="Folder: runs.csv (resumable), tableN.csv, tableN_summary.csv, tableN.md, .png.")


def _runs_progress(progress: Progress, label: str):
    task = progress.add_task(label, total=None)
    return lambda done, total: progress.update(task, completed=done, total=total)


def _subsidy_level(cfg: SDCEConfig, subsidy: str) -> float:
    """Table V's subsidy: a number, or 'optimal', s* (eq. 10) resolved exactly as `sdce run --subsidy optimal`."""
    return _with_policy(cfg.replace(regime="pmir"), "subsidy", subsidy, None, None, None).subsidy


def _print_result(result: dict, key: str, paper: dict, title: str) -> None:
    from calibration.tables import cells, describe

    _print_frame(cells(result["summary"], key, {k: v.label for k, v in paper.items()}), title)
    console = _out()
    for line in [*(describe(c) for c in result["orderings"]), result.get("cv")]:
        if line:
            console.print(line.replace("**", ""), highlight=False)


def _reproduce_table(config: Optional[Path], seeds: int, workers: Optional[int], out: Path, name: str, stem: str,
                     design, build, key: str, paper: dict) -> None:
    """Tables III and V: simulate `design(cfg)` (keywords of `simulate`) over the paper's first seeds, tabulate with
    `build`, and print ours beside the paper's."""
    from calibration.tables import seed_list, simulate

    with _clean_errors():
        cfg = load_config(config)
        chosen = seed_list(seeds)
        plan = design(cfg)
        with _progress() as progress:
            runs = simulate(cfg, chosen, out, workers=workers, on_progress=_runs_progress(progress, f"{name} runs"),
                            **plan)
        result = build(runs, out, cfg)
    _print_result(result, key, paper, f"{name}: ours (paper) -> {out}/{stem}.md")


@reproduce_app.command("table3")
def reproduce_table3(
    seeds: int = PaperSeedsOpt,
    regimes: Optional[str] = typer.Option(None, help="Comma-separated regimes [default: unregulated, statutory, "
                                                     "shapley, pmir, intermediary]."),
    workers: Optional[int] = WorkersOpt,
    config: Optional[Path] = ConfigOpt,
    out: Path = TablesOutOpt,
) -> None:
    """Table III: Q (rel.), W2, rho_T, ΔW at generation T by regime over the paper's seeds, beside the paper's."""
    from calibration.published import TABLE_III
    from calibration.tables import TABLE3_REGIMES, table3

    def design(cfg: SDCEConfig) -> dict:
        names = TABLE3_REGIMES if regimes is None else [r.strip() for r in regimes.split(",") if r.strip()]
        if not names:
            raise ConfigError("--regimes: empty list")
        return {"regimes": names}

    _reproduce_table(config, seeds, workers, out, "Table III", "table3", design, table3, "regime", TABLE_III)


@reproduce_app.command("table5")
def reproduce_table5(
    seeds: int = PaperSeedsOpt,
    subsidy: str = typer.Option("optimal", help="s, or 'optimal': s* (eq. 10) at the continuum SDCE."),
    workers: Optional[int] = WorkersOpt,
    config: Optional[Path] = ConfigOpt,
    out: Path = TablesOutOpt,
) -> None:
    """Table V: no intervention, subsidy s*, disclosure, royalty cap, transfer on pmir, beside the paper's."""
    from calibration.published import TABLE_V
    from calibration.tables import TABLE5_POLICIES, table5

    def design(cfg: SDCEConfig) -> dict:
        with err.status("s* (eq. 10): solving the continuum SDCE of pmir"):
            return {"policies": TABLE5_POLICIES, "subsidy": _subsidy_level(cfg, subsidy)}

    _reproduce_table(config, seeds, workers, out, "Table V", "table5", design, table5, "policy", TABLE_V)


@reproduce_app.command("all")
def reproduce_all(
    out: Optional[Path] = typer.Option(None, help="Folder for everything and report.md [default: "
                                                  "runs/reproduce-all, or runs/reproduce-quick with --quick]."),
    quick: bool = typer.Option(False, "--quick", help="A first look: 3 seeds, N = 128, M = 4, tiny retraining over "
                                                      "3 generations."),
    subsidy: str = typer.Option("optimal", help="Table V's subsidy: s, or 'optimal': s* (eq. 10) at the continuum "
                                                "SDCE of pmir."),
    workers: Optional[int] = WorkersOpt,
) -> None:
    """Tables II-V and Theorems 2, 4, 5, 6 into DIR/report.md, ours beside the paper's.

    Default: Table I (N = 1024, M = 16, T = 10), the paper's 32 seeds, tiny retraining; under 15 minutes on 2 cores.
    Each section is written to DIR/sections/ as soon as it is done; a section that fails is reported with its error
    in report.md and the run goes on (exit 1, naming the failed sections). A rerun resumes: finished sections, runs
    and retraining generations are kept.
    """
    import time

    from calibration.report import ReportSections
    from calibration.tables import REPORT_SIZES, SEEDS_RULE, seed_list

    size = REPORT_SIZES["quick" if quick else "default"]
    folder = out or Path("runs/reproduce-quick" if quick else "runs/reproduce-all")
    start = time.perf_counter()
    with _clean_errors():
        level = _level(subsidy, "subsidy")
        if isinstance(level, float) and not (math.isfinite(level) and level >= 0):
            raise ConfigError(f"--subsidy: expected a finite number >= 0 or 'optimal', got {subsidy!r}")
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers: must be >= 1 (got {workers})")
        cfg = load_config(None, **size["config"])
        chosen = seed_list(size["seeds"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(config_toml(cfg))
    sections = ReportSections(folder, {"config": config_toml(cfg), "subsidy": subsidy})
    glance: list[str] = []
    with _progress() as progress:
        _reproduce_sections(sections, cfg, size, chosen, level, workers, progress, glance)
    wall = time.perf_counter() - start
    header = (f"# sdce reproduce all{' --quick' if quick else ''}: our tables beside the paper's\n\n"
              f"N = {cfg.n_producers} producers, M = {cfg.n_trainers} trainers, T = {cfg.generations} generations "
              f"(`config.toml`); {len(chosen)} seeds for Tables III and V ({SEEDS_RULE}); ABM seeds "
              f"{ABM_FIRST_SEED}..{ABM_FIRST_SEED + size['abm_seeds'] - 1} per rho for Tables II and IV; retraining "
              f"size `{size['retrain_size']}` over {size['retrain_generations']} generations, one seed per domain. "
              f"Wall time of this invocation (finished sections and runs are reused): {wall:.0f} s ("
              + ", ".join(f"{k} {v:.0f} s" for k, v in sections.timings.items()) + ").\n\n"
              "## At a glance\n\n" + "\n".join(f"- {line}" for line in glance or ["(no table finished)"]))
    report = sections.write_report(header)
    console = _out()
    for line in glance:
        console.print(line.replace("**", ""), highlight=False)
    console.print(f"{report} ({wall:.0f} s)")
    if sections.failed:
        err.print("[red]error:[/red] failed sections: " + "; ".join(f"{k} ({v})" for k, v in sections.failed.items()),
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _reproduce_sections(sections, cfg: SDCEConfig, size: dict, chosen, level, workers, progress, glance) -> None:
    """The sections of `sdce reproduce all`, in order; each is skipped when done and recorded when it fails."""
    from calibration.reproduce import table2, table4
    from calibration.retrain.loop import make_retrain_config, run_retraining
    from calibration.tables import (TABLE3_REGIMES, TABLE5_POLICIES, describe, simulate, table3, table5, theorem2,
                                    theorem4_section, theorem5_section, theorem6_section)
    from meanfield.theorem6 import run_theorem6
    from sdce.experiments.theorem4 import run_theorem4
    from sdce.experiments.theorem5 import estimator_variance, plot_theorem5

    folder = sections.folder

    @contextmanager
    def working(label: str) -> Iterator[None]:
        task = progress.add_task(label, total=None)
        try:
            yield
        finally:
            progress.remove_task(task)

    s_star, runs_step, retrain_step, fixed_rho_step = ("s* (eq. 10)", "Tables III and V: ABM runs",
                                                       "Table II: retraining", "Tables II and IV: ABM at fixed rho")
    if level == "optimal":
        with working("s* (eq. 10): the continuum SDCE of pmir"):
            level = sections.value(s_star, lambda: _subsidy_level(cfg, "optimal"), cached=True)
    policies = TABLE5_POLICIES if level is not None else ()
    runs = sections.value(runs_step, lambda: simulate(
        cfg, chosen, folder, regimes=TABLE3_REGIMES, policies=policies, subsidy=level, workers=workers,
        on_progress=_runs_progress(progress, "Tables III, V runs")))

    def retraining():
        retrain = {d: make_retrain_config(domain=d, size=size["retrain_size"],
                                          generations=size["retrain_generations"])
                   for d in ("text", "images", "recsys")}
        task = progress.add_task(f"retraining ({size['retrain_size']})",
                                 total=sum(len(c.rhos) * c.seeds * (c.generations + 1) for c in retrain.values()))
        return {d: run_retraining(c, folder / "retrain" / d, lambda k: progress.advance(task, k))
                for d, c in retrain.items()}

    panels = sections.value(retrain_step, retraining)
    abm = sections.value(fixed_rho_step, lambda: _abm_panel(folder / "config.toml", size["abm_seeds"],
                                                            ABM_FIRST_SEED, progress, folder))

    def section_table2():
        sections.needs(retrain_step, fixed_rho_step)
        table2(panels, abm, folder)
        return (folder / "table2.md").read_text()

    def section_table4():
        sections.needs(fixed_rho_step)
        table4(abm, folder)
        return (folder / "table4.md").read_text() + "\n\n![Table IV](table4.png)"

    def section_table3():
        sections.needs(runs_step)
        result = table3(runs, folder, cfg)
        glance.extend([*(describe(c) for c in result["orderings"]), result["cv"]])
        return (folder / "table3.md").read_text() + "\n\n![Table III](table3.png)"

    def section_table5():
        sections.needs(s_star, runs_step)
        result = table5(runs, folder, cfg)
        glance.extend(describe(c) for c in result["orderings"])
        return (folder / "table5.md").read_text() + "\n\n![Table V](table5.png)"

    def section_theorem2():
        sections.needs(runs_step)
        theorem2(runs, folder)
        return (folder / "theorem2.md").read_text() + "\n\n![Theorem 2](theorem2.png)"

    def section_theorem5():
        result = estimator_variance(cfg, [1, 2, 4, 8, 16, 32, 64])
        plot_theorem5(result, folder / "theorem5.png")
        return theorem5_section(result)

    sections.section("Table II", section_table2, cached=False)
    sections.section("Table III", section_table3, cached=False)
    sections.section("Table IV", section_table4, cached=False)
    sections.section("Table V", section_table5, cached=False)
    sections.section("Theorem 2", section_theorem2, cached=False)
    with working("Theorem 4"):
        sections.section("Theorem 4", lambda: theorem4_section(run_theorem4(cfg, folder / "theorem4"),
                                                               "theorem4/theorem4.png"))
    with working("Theorem 5"):
        sections.section("Theorem 5", section_theorem5)
    with working("Theorem 6: the continuum PMIR"):
        sections.section("Theorem 6", lambda: theorem6_section(run_theorem6(cfg, folder / "theorem6"),
                                                               "theorem6/theorem6.png"))


@policy_app.command("sweep")
def policy_sweep_command(
    policy: str = typer.Option(..., "--policy", help="subsidy | watermark."),
    levels: Optional[str] = typer.Option(None, help="Comma-separated levels [default: 7 from 0 to 3x the closed "
                                                    "form]."),
    seeds: int = typer.Option(4, help="K, seeds per level."),
    seed: int = typer.Option(17, help="First seed."),
    regime: str = typer.Option("statutory", help="|".join(REGIMES)),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("runs/policy_sweep"), help="Folder: sweep.csv (resumable), sweep.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Welfare against the level of a subsidy or watermark; the swept optimum beside s* (eq. 10) or w* (eq. 12)."""
    import numpy as np

    from sdce_abm.policy_sweep import SWEPT, policy_sweep

    with _clean_errors():
        if policy not in SWEPT:
            raise ConfigError(f"--policy must be subsidy or watermark, got {policy!r}")
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        cfg = load_config(config, regime=regime)
        closed_form = None
        try:
            from meanfield.equilibrium import closed_form_policy_levels

            closed_form = closed_form_policy_levels(cfg)["s_star" if policy == "subsidy" else "w_star"]
        except ConfigError as exc:
            if levels is None:
                raise ConfigError(f"no closed form to centre the default levels on ({exc}); give --levels") \
                    from None
        grid = ([float(v) for v in levels.split(",") if v.strip()] if levels is not None
                else np.linspace(0.0, 3.0 * closed_form, 7).tolist())
        with _progress() as progress:
            task = progress.add_task(f"{policy} sweep ({cfg.regime})", total=len(grid) * seeds)
            result = policy_sweep(cfg, policy, grid, range(seed, seed + seeds), out, closed_form,
                                  on_run=lambda: progress.advance(task))
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(title=f"{policy} sweep under {cfg.regime} ({seeds} seeds) -> {out}/sweep.png")
    for col in ("level", "rho_T", "Q_T", "W_T", "sd", "realized W_T", "policy cost"):
        table.add_column(col, justify="right")
    for i, level in enumerate(result["levels"]):
        table.add_row(f"{level:.4g}", *(f"{result[k][i]:.4f}" for k in ("rho_mean", "quality_mean", "W_mean",
                                                                          "W_sd", "W_realized_mean",
                                                                          "policy_cost_mean")))
    console = _out()
    console.print(table)
    console.print(f"swept optimum: {result['best_level']:.4g}; closed form: "
                  f"{'n/a' if closed_form is None else format(closed_form, '.4g')}")


@app.command()
def theorem5(
    config: Optional[Path] = ConfigOpt,
    horizons: str = typer.Option("1,2,4,8,16,32,64", help="Comma-separated numbers of signals T."),
    reps: int = typer.Option(2000, help="Replications of the signal stream."),
    seed: int = typer.Option(0, help="Seed."),
    policy: Optional[str] = PolicyOpt,
    watermark: Optional[str] = WatermarkOpt,
    out: Path = typer.Option(Path("runs/theorem5"), help="Folder for theorem5.json and theorem5.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Theorem 5: variance of the running-mean provenance estimator against the Cramér–Rao bound 1/(T I)."""
    from sdce.experiments.theorem5 import estimator_variance, plot_theorem5

    with _clean_errors():
        cfg = _with_policy(load_config(config), policy, None, watermark, None, None)
        result = estimator_variance(cfg, _int_list(horizons, "horizons"), reps, seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "theorem5.json").write_text(json.dumps(result, indent=1))
    plot_theorem5(result, out / "theorem5.png")
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    slope = "n/a" if result["slope"] is None else f"{result['slope']:.3f}"
    table = Table(title=f"Theorem 5 (psi = {result['psi']:.3f}, I = {result['fisher_information']:.3g}); "
                        f"fitted slope {slope} -> {out}")
    for col in ("T", "variance", "1/(T I)", "ratio", "mean |bias|"):
        table.add_column(col, justify="right")
    for row in zip(result["horizons"], result["variance"], result["cramer_rao"], result["ratio"],
                   result["mean_abs_bias"]):
        table.add_row(str(row[0]), *("n/a" if v is None else f"{v:.4g}" for v in row[1:]))
    _out().print(table)


@app.command()
def theorem4(
    config: Optional[Path] = ConfigOpt,
    grid: int = typer.Option(101, help="K, true types phi on a grid over [0, 1]."),
    seed: int = typer.Option(0, help="Seed of the other producers' types."),
    out: Path = typer.Option(Path("runs/theorem4"), help="Folder for theorem4.csv, theorem4.json, theorem4.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Theorem 4: the gain from misreporting provenance when eq. (4) is paid on reports, by true type."""
    from sdce.experiments.theorem4 import run_theorem4

    with _clean_errors():
        result = run_theorem4(load_config(config), out, grid, seed)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    market = result["market"]
    table = Table(title=f"Theorem 4 at rho = {market['rho']:.3f} ({market['source']}); payments per producer -> {out}")
    for col in ("true phi", "truthful = eq. (4) realised", "best report", "misreport payment", "gain"):
        table.add_column(col, justify="right")
    rows = result["by_type"]
    for row in zip(rows["phi"], rows["truthful_payment"], rows["best_report"], rows["misreport_payment"],
                   rows["gain"]):
        table.add_row(*(f"{v:.4g}" for v in row))
    console = _out()
    console.print(table)
    sweep = result["by_rho"]["sign_change_rho"]
    console.print(f"gain > 0 for {100 * result['share_positive_gain']:.1f}% of types; max gain "
                  f"{result['max_gain']:.4g} at phi = {result['max_gain_at']:.3g}; mean over-report "
                  f"{result['mean_over_report']:+.3f}. Under eq. (4) on realised quality the report is not paid "
                  f"(gain 0); its payment is {'increasing' if result['shapley']['increasing'] else 'NOT increasing'} "
                  f"in the true phi. Report-based payments switch from rewarding synthetic to human claims at rho = "
                  f"{'n/a' if sweep is None else format(sweep, '.3f')}.")


@app.command()
def viz(
    port: int = typer.Option(8765, help="Port of the page."),
    host: str = typer.Option("127.0.0.1", help="Address to bind: localhost by default; 0.0.0.0 exposes it."),
) -> None:
    """The interactive market in the browser: Mesa's SolaraViz page for the ABM (Ctrl-C stops it)."""
    from sdce_abm.serve import check_address, serve

    with _clean_errors():
        check_address(host, port)
    print(f"sdce viz: the interactive market at http://{host}:{port} (Ctrl-C to stop)", flush=True)
    serve(host, port)
    print("sdce viz: stopped", flush=True)
    os._exit(0)  # a session's background work (a mean-field solve, a play loop) would otherwise hold the exit


@config_app.command("show")
def config_show(config: Optional[Path] = ConfigOpt) -> None:
    """Print the resolved configuration (Table I plus the added parameters) as TOML."""
    with _clean_errors():
        sys.stdout.write(config_toml(load_config(config)))


@config_app.command("validate")
def config_validate(path: Path = typer.Argument(..., help="TOML file to check.")) -> None:
    """Check a configuration file; exit 2 with the reasons if it is invalid."""
    with _clean_errors():
        load_config(path)
    typer.echo(f"{path}: valid")


def main() -> None:
    app()
