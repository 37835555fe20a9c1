"""`sdce policy sweep`: welfare against the level of a subsidy or a watermark."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from sdce.budget import check_abm
from sdce.cli.common import (
    Command,
    ConfigOpt,
    ForceOpt,
    Regime,
    announce,
    clean_errors,
    command_group,
    float_list,
    print_json,
    print_table,
    progress_bar,
    stdout,
    warn_if_inert,
)
from sdce.config import load_config
from sdce.errors import ConfigError
from sdce.run_folder import check_folder
from sdce_abm.policy_sweep import policy_sweep, sweep_levels

policy_app = command_group(help="Policy instruments (docs/model.md §7): sweeps of their levels.")


@policy_app.command("sweep", cls=Command)
def policy_sweep_command(
    policy: Literal["subsidy", "watermark"] = typer.Option(..., "--policy", help="The instrument to sweep."),
    levels: Optional[str] = typer.Option(None, show_default="7 from 0 to 3x the closed form",
                                         help="Comma-separated levels."),
    seeds: int = typer.Option(4, help="K, seeds per level."),
    seed: int = typer.Option(17, min=0, help="First seed."),
    regime: Regime = typer.Option("statutory", help="Who is paid, and how (§6)."),
    config: Optional[Path] = ConfigOpt,
    out: Path = typer.Option(Path("runs/policy_sweep"), help="Folder: sweep.csv (resumable), sweep.png."),
    force: bool = ForceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Welfare against the level of a subsidy or watermark; the swept optimum beside s* (eq. 10) or w* (eq. 12)."""
    with clean_errors():
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        cfg = load_config(config, regime=regime)
        check_folder(out)  # before the closed-form solve of `sweep_levels`
        check_abm(cfg, f"{seeds} ABM runs a level", runs=seeds)
        warn_if_inert(cfg.replace(policy=policy, **{policy: 0.0}))
        announce(out)
        grid, closed_form = sweep_levels(cfg, policy, None if levels is None else float_list(levels, "levels"))
        with progress_bar() as progress:
            task = progress.add_task(f"{policy} sweep ({cfg.regime})", total=len(grid) * seeds)
            result = policy_sweep(cfg, policy, grid, range(seed, seed + seeds), out, closed_form,
                                  on_run=lambda: progress.advance(task), force=force)
    if as_json:
        print_json(result)
        return
    keys = ("rho_mean", "quality_mean", "W_mean", "W_sd", "W_realized_mean", "policy_cost_mean")
    print_table(f"{policy} sweep under {cfg.regime} ({seeds} seeds) -> {out}/sweep.png",
                ("level", "rho_T", "Q_T", "W_T", "sd", "realized W_T", "policy cost"),
                ([f"{level:.4g}", *(f"{result[k][i]:.4f}" for k in keys)] for i, level in enumerate(result["levels"])))
    stdout().print(f"swept optimum: {result['best_level']:.4g}; closed form: "
                  f"{'n/a' if closed_form is None else format(closed_form, '.4g')}")
