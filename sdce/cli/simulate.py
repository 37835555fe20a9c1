"""`sdce run`, `sdce regimes` and `sdce collapse`: the ABM and the market-free collapse chain."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import Progress

from sdce.budget import OPTION_LABELS, check_abm, check_budget, collapse_need
from sdce.cli.common import (
    CapOpt,
    ConfigOpt,
    DataMode,
    Family,
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
    print_json,
    print_table,
    progress_bar,
    stdout,
    warn_if_inert,
    with_policy_options,
)
from sdce.collapse import CollapseConfig
from sdce.config import REGIMES, SDCEConfig, load_config
from sdce.results import Trajectory
from sdce.run_folder import RECORD, claim_folder
from sdce_abm.output import finished_summary


def _simulate(cfg: SDCEConfig, seed: int, out: Path, progress: Progress, label: str, force: bool = False) -> dict:
    from sdce_abm.output import run_to_folder

    task = progress.add_task(label, total=cfg.generations)
    return run_to_folder(cfg, seed, out, on_generation=lambda t: progress.update(task, completed=t), force=force)


def _print_summaries(summaries: dict[str, Trajectory], title: str) -> None:
    """Generation-T outcomes of runs by regime, relative to `unregulated` where it is among them."""
    base = summaries.get("unregulated")

    def row(name: str, s: dict) -> list[str]:
        w = s.welfare
        rel = f"{s.quality[-1] / base.quality[-1]:.3f}" if base else "-"
        dw = f"{w['W'] - base.welfare['W']:+.3f}" if base else "-"
        return [name, f"{s.rho[0]:.3f}", f"{s.rho[-1]:.3f}", f"{s.quality[-1]:.3f}", rel, f"{s.w2[-1]:.3f}",
                f"{s.kl[-1]:.4f}", f"{w['W']:.3f}", dw, f"{w['W_realized']:.3f}"]

    print_table(title, ("regime", "rho_0", "rho_T", "Q_T", "Q_T rel.", "W2_T", "KL_T", "W_T", "ΔW_T", "W realized_T"),
                (row(name, s) for name, s in summaries.items()))


def _chain(field: str, help: str):
    """An option of `sdce collapse` that sets a `CollapseConfig` field, showing the field's default."""
    return typer.Option(None, show_default=str(CollapseConfig.model_fields[field].default), help=help)


def run(
    config: Optional[Path] = ConfigOpt,
    regime: Optional[Regime] = RegimeOpt,
    seed: int = typer.Option(17, min=0, help="Seed of the run."),
    producers: Optional[int] = typer.Option(None, show_default=configured("n_producers"),
                                            help="N, number of producers."),
    trainers: Optional[int] = typer.Option(None, show_default=configured("n_trainers"),
                                           help="M, number of trainers."),
    generations: Optional[int] = GenerationsOpt,
    policy: Optional[Policy] = PolicyOpt,
    subsidy: Optional[str] = SubsidyOpt,
    watermark: Optional[str] = WatermarkOpt,
    royalty_cap: Optional[float] = CapOpt,
    transfer: Optional[float] = TransferOpt,
    out: Path = typer.Option(Path("runs/run"), help="Run folder to write."),
    force: bool = ForceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run one simulation and write DIR/trajectory.csv, DIR/summary.json and DIR/trajectory.png."""
    with clean_errors():
        cfg = load_config(config, regime=regime, n_producers=producers, n_trainers=trainers,
                          generations=generations)
        cfg = with_policy_options(cfg, policy, subsidy, watermark, royalty_cap, transfer)
        check_abm(cfg, labels=OPTION_LABELS)
        warn_if_inert(cfg)
        announce(out)
        with progress_bar() as progress:
            result = _simulate(cfg, seed, out, progress, f"{cfg.regime} (seed {seed})", force)
    unformed = [t for t, formed in enumerate(result.intermediary_formed or []) if not formed]
    if unformed:
        err.print(f"[yellow]note:[/yellow] the intermediary did not form in generation(s) {unformed} (surplus S < 0: "
                  "no tariff, open scraping; `intermediary_formed` in summary.json)", highlight=False)
    if any(result.numerics.values()):
        err.print(f"[yellow]warning:[/yellow] guarded numerics in this run: {result.numerics} (summary.json)",
                  highlight=False)
    if as_json:
        print_json(result.to_json())
    else:
        _print_summaries({cfg.regime: result}, f"sdce run -> {out}")


def regimes(
    config: Optional[Path] = ConfigOpt,
    seed: int = typer.Option(17, min=0, help="Seed shared by all regimes."),
    out: Path = typer.Option(Path("runs/regimes"), help="Folder: one run folder per regime plus a comparison."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print {regime: summary} as one JSON object."),
) -> None:
    """A Table I-scale simulation under every regime, with a comparison table and figure.

    A regime whose run folder already holds a summary for the same configuration and seed is not rerun.
    """
    from sdce_abm.plots import plot_regime_comparison

    results: dict[str, dict] = {}
    with clean_errors():
        base = load_config(config)
        check_abm(base, f"{len(REGIMES)} ABM runs", runs=len(REGIMES))
        claim_folder(out, {"command": "sdce regimes", "config": base.model_dump(mode="json"), "seed": seed}, RECORD,
                     "a comparison of regimes", force=force)
        announce(out)
        with progress_bar() as progress:
            for name in REGIMES:
                cfg = base.replace(regime=name)
                folder = out / name
                results[name] = finished_summary(folder, cfg, seed) or _simulate(cfg, seed, folder, progress,
                                                                                 f"{name} (seed {seed})")
    plot_regime_comparison(results, out / "comparison.png")
    if as_json:
        print_json({name: s.to_json() for name, s in results.items()})
        return
    console = stdout()
    _print_summaries(results, f"Generation-{base.generations} outcomes by regime (seed {seed})")
    console.print(f"run folders and comparison.png in {out}/")


def collapse(
    family: Optional[Family] = _chain("family", "Model family of q_t."),
    components: Optional[int] = _chain("components", "K, components of the gmm family."),
    human: Optional[Family] = typer.Option(None, show_default="the family", help="Family of the human data p."),
    rule: Optional[LearningRule] = _chain("rule", "Learning rule."),
    train_time: Optional[float] = _chain("train_time", "Training time of the wgf rule (inf = minimiser)."),
    rho: Optional[float] = _chain("rho", "Synthetic share of each generation's samples, in [0, 1]."),
    tau: Optional[float] = _chain("tau", "Sampling temperature, in (0, 1]."),
    samples: Optional[int] = _chain("samples", "n, new samples per generation."),
    generations: Optional[int] = _chain("generations", "G, generations after generation 0."),
    reps: Optional[int] = _chain("reps", "Independent replications."),
    dim: Optional[int] = _chain("dim", "d, dimension."),
    data_mode: Optional[DataMode] = _chain("data_mode", "Fresh data each generation (replace) or kept (accumulate)."),
    sinkhorn_epsilon: Optional[float] = _chain("sinkhorn_epsilon", "Entropic epsilon of the Sinkhorn W2 (mixtures)."),
    seed: Optional[int] = _chain("seed", "Seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-generation means as one JSON object."),
) -> None:
    """The recursive-retraining chain with no market: mean over reps of ‖mean‖, tr cov, KL(q_t‖p), W2(q_t, p)."""
    from sdce.collapse import collapse_chain, make_collapse_config

    with clean_errors():
        cfg = make_collapse_config(family=family, components=components, human=human, rule=rule,
                                   train_time=train_time, rho=rho, tau=tau, samples=samples,
                                   generations=generations, reps=reps, dim=dim, data_mode=data_mode,
                                   sinkhorn_epsilon=sinkhorn_epsilon, seed=seed)
        check_budget("the collapse chain", lambda samples, generations, reps: collapse_need(
            samples, cfg.dim, generations, reps, cfg.data_mode == "accumulate"), samples=cfg.samples,
            generations=cfg.generations, reps=cfg.reps)
        result = collapse_chain(cfg, progress=not as_json)
    if as_json:
        print_json(result)
        return
    step = max(1, cfg.generations // 10)
    print_table(f"collapse chain: rho={cfg.rho}, tau={cfg.tau}, n={cfg.samples}, {cfg.rule}, {cfg.data_mode}, "
                f"{cfg.reps} reps", ("generation", "‖mean‖", "tr cov", "KL(q‖p)", "W2(q, p)"),
                ([str(t), *(f"{result[k][t]:.4f}" for k in ("mean_norm", "cov_trace", "kl", "w2"))]
                 for t in [*range(0, cfg.generations, step), cfg.generations]))
