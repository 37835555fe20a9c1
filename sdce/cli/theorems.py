"""`sdce theorem4` and `sdce theorem5`: the paper's theorems as measured experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from sdce.atomic import write_text_atomic
from sdce.budget import check_budget, theorem5_need
from sdce.cli.common import (
    ConfigOpt,
    ForceOpt,
    JsonOpt,
    WatermarkOpt,
    clean_errors,
    configured,
    int_list,
    print_json,
    print_table,
    stdout,
    with_policy_options,
)
from sdce.config import load_config
from sdce.run_folder import RECORD, claim_folder
from sdce.strict_json import dumps


def theorem5(
    config: Optional[Path] = ConfigOpt,
    horizons: str = typer.Option("1,2,4,8,16,32,64", help="Comma-separated numbers of signals T."),
    reps: int = typer.Option(2000, help="Replications of the signal stream."),
    seed: int = typer.Option(0, min=0, help="Seed."),
    policy: Optional[Literal["none", "disclosure", "watermark"]] = typer.Option(
        None, "--policy", show_default=configured("policy"),
        help="The provenance signals' policy: only disclosure and a watermark change them."),
    watermark: Optional[str] = WatermarkOpt,
    out: Path = typer.Option(Path("runs/theorem5"), help="Folder for theorem5.json and theorem5.png."),
    force: bool = ForceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Theorem 5: variance of the running-mean provenance estimator against the Cramér–Rao bound 1/(T I)."""
    from sdce.experiments.theorem5 import checked_design, estimator_variance, plot_theorem5

    with clean_errors():
        cfg = with_policy_options(load_config(config), policy, None, watermark, None, None)
        design = checked_design(int_list(horizons, "horizons"), reps)
        check_budget(f"Theorem 5's signal streams of {cfg.n_producers} producers",
                     lambda reps: theorem5_need(reps, cfg.n_producers, max(design)), reps=reps)
        claim_folder(out, {"command": "sdce theorem5", "config": cfg.model_dump(mode="json"), "horizons": design,
                           "reps": reps, "seed": seed}, RECORD, "a Theorem 5 run", force=force)
        result = estimator_variance(cfg, design, reps, seed)
    write_text_atomic(out / "theorem5.json", dumps(result, indent=1))
    plot_theorem5(result, out / "theorem5.png")
    if as_json:
        print_json(result)
        return
    slope = "n/a" if result["slope"] is None else f"{result['slope']:.3f}"
    columns = zip(*(result[k] for k in ("horizons", "variance", "cramer_rao", "ratio", "mean_abs_bias")))
    print_table(f"Theorem 5 (psi = {result['psi']:.3f}, I = {result['fisher_information']:.3g}); fitted slope {slope} "
                f"-> {out}", ("T", "variance", "1/(T I)", "ratio", "mean |bias|"),
                ([str(row[0]), *("n/a" if v is None else f"{v:.4g}" for v in row[1:])] for row in columns))


def theorem4(
    config: Optional[Path] = ConfigOpt,
    grid: int = typer.Option(101, min=2, help="K, true types phi on a grid over [0, 1]."),
    seed: int = typer.Option(0, min=0, help="Seed of the other producers' types."),
    out: Path = typer.Option(Path("runs/theorem4"), help="Folder for theorem4.csv, theorem4.json, theorem4.png."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Theorem 4: the gain from misreporting provenance when eq. (4) is paid on reports, by true type."""
    from sdce.experiments.theorem4 import run_theorem4

    with clean_errors():
        cfg = load_config(config)
        claim_folder(out, {"command": "sdce theorem4", "config": cfg.model_dump(mode="json"), "grid": grid,
                           "seed": seed}, RECORD, "a Theorem 4 run", force=force)
        result = run_theorem4(cfg, out, grid, seed)
    if as_json:
        print_json(result)
        return
    market = result["market"]
    rows = result["by_type"]
    print_table(f"Theorem 4 at rho = {market['rho']:.3f} ({market['source']}); payments per producer -> {out}",
                ("true phi", "truthful = eq. (4) realised", "best report", "misreport payment", "gain"),
                ([f"{v:.4g}" for v in row] for row in zip(rows["phi"], rows["truthful_payment"], rows["best_report"],
                                                          rows["misreport_payment"], rows["gain"])))
    console = stdout()
    sweep = result["by_rho"]["sign_change_rho"]
    console.print(f"gain > 0 for {100 * result['share_positive_gain']:.1f}% of types; max gain "
                  f"{result['max_gain']:.4g} at phi = {result['max_gain_at']:.3g}; mean over-report "
                  f"{result['mean_over_report']:+.3f}. Under eq. (4) on realised quality the report is not paid "
                  f"(gain 0); its payment is {'increasing' if result['shapley']['increasing'] else 'NOT increasing'} "
                  f"in the true phi. Report-based payments switch from rewarding synthetic to human claims at rho = "
                  f"{'n/a' if sweep is None else format(sweep, '.3f')}.")
