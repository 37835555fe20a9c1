"""Shared pieces of the command line: consoles, options, parsing, clean errors, progress bars, tables and JSON."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from calibration.abm_panel import table4_abm_panel
from sdce.budget import check_abm
from sdce.config import SDCEConfig, load_config
from sdce.errors import ConfigError, NotConverged
from sdce.paper.published import TABLE_IV_RHOS
from sdce.strict_json import dumps

err = Console(stderr=True, soft_wrap=True)


def stdout() -> Console:
    """Standard output wide enough for the tables even when it is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


ConfigOpt = typer.Option(None, "--config", help="TOML file of parameters (see `sdce config show`).")
PolicyOpt = typer.Option(None, "--policy", help="none|subsidy|disclosure|royalty-cap|transfer|watermark.")
SubsidyOpt = typer.Option(None, "--subsidy", help="s per unit of perceived human content, or 'optimal' (eq. 10).")
WatermarkOpt = typer.Option(None, "--watermark", help="Watermark strength w, or 'optimal' (eq. 12).")
CapOpt = typer.Option(None, "--royalty-cap", help="p̄, cap on the royalty charged.")
TransferOpt = typer.Option(None, "--transfer", help="Lump sum per producer, levied on trainers.")
ForceOpt = typer.Option(False, "--force", help="Clear an output folder that holds another run, instead of refusing it.")


def print_json(value) -> None:
    """One strict JSON object on one line of standard output (`--json`; non-finite numbers as strings)."""
    sys.stdout.write(dumps(value) + "\n")


def parse_level(text: Optional[str], name: str) -> float | str | None:
    """A policy level given as a number or 'optimal' (s* or w*, resolved by `with_policy_options`)."""
    if text is None or text == "optimal":
        return text
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--{name}: expected a number >= 0 or 'optimal', got {text!r}") from None


def with_policy_options(cfg: SDCEConfig, policy: Optional[str], subsidy: Optional[str], watermark: Optional[str],
                        royalty_cap: Optional[float], transfer: Optional[float]) -> SDCEConfig:
    """Apply the policy options (`meanfield.equilibrium.with_policy`: 'optimal' is s* or w*). A `--policy` whose
    level is given neither here nor in the configuration is refused: it would run at level 0 and change nothing."""
    from meanfield.equilibrium import with_policy
    from sdce.economics.policy import LEVEL_FIELDS

    field = LEVEL_FIELDS.get(policy or "")
    given = {"subsidy": subsidy, "watermark": watermark, "royalty_cap": royalty_cap, "transfer": transfer}
    default = SDCEConfig.model_fields[field].default if field else None
    if field and given[field] is None and getattr(cfg, field) == default:
        optimal = ", or 'optimal'" if field in ("subsidy", "watermark") else ""
        raise ConfigError(f"--policy {policy} needs its level: give --{field.replace('_', '-')} (a number >= 0"
                          f"{optimal}) or set {field} in the --config file")
    return with_policy(cfg, policy=policy, subsidy=parse_level(subsidy, "subsidy"),
                       watermark=parse_level(watermark, "watermark"), royalty_cap=royalty_cap, transfer=transfer)


def warn_if_inert(cfg: SDCEConfig) -> None:
    """Say so when the configuration's policy changes no decision under its regime (`sdce.regimes.policy_acts`)."""
    from sdce.regimes import policy_acts

    if not policy_acts(cfg.regime, cfg.policy):
        err.print(f"[yellow]warning:[/yellow] policy {cfg.policy!r} changes no decision under {cfg.regime!r} "
                  "(trainers there do not choose bundles on perceived provenance): outcomes equal the run without it, "
                  "apart from its resource cost (docs/model.md §7)", highlight=False)


@contextmanager
def clean_errors() -> Iterator[None]:
    """Bad input and failed numerics end with one readable line and a non-zero exit, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except NotConverged as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def progress_bar() -> Progress:
    """The progress bars of long commands, on standard error, gone when done."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def float_list(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--{name}: expected comma-separated numbers, got {text!r}") from None


def int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{name}: empty list")
    return values


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], first_left: bool = False) -> None:
    """Rows of formatted cells under `columns`, right-aligned (the first column left with `first_left`)."""
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if first_left and i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    stdout().print(table)


def print_quantities(title: str, rows: Iterable[tuple[str, object]], digits: str = ".4g") -> None:
    """A two-column table of named quantities; floats to `digits`."""
    print_table(title, ("quantity", "value"), ((k, format(v, digits) if isinstance(v, float) else str(v))
                                               for k, v in rows), first_left=True)


def print_frame(frame, title: str) -> None:
    """A data frame as a table on standard output; NaN and None as blanks."""
    print_table(title, [str(c) for c in frame.columns],
                (["" if v is None or (isinstance(v, float) and v != v) else f"{v:.4g}" if isinstance(v, float)
                  else str(v) for v in row] for row in frame.itertuples(index=False)))


def check_abm_panel(cfg: SDCEConfig, seeds: int, option: str = "--abm-seeds") -> None:
    """Before any work: the fixed-rho ABM panel of Tables II and IV (`seeds` per rho) is valid and fits the
    budgets (`sdce.budget`)."""
    if seeds < 1:
        raise ConfigError(f"{option}: must be >= 1 (got {seeds})")
    check_abm(cfg, f"the fixed-rho ABM panel ({len(TABLE_IV_RHOS)} rhos x {seeds} seeds)",
              runs=len(TABLE_IV_RHOS) * seeds)


def abm_panel_with_progress(config: Optional[Path], seeds: int, seed: int, progress: Progress, out: Path):
    """`calibration.abm_panel.table4_abm_panel` with a progress bar (Tables II and IV, `calibrate ols`)."""
    cfg = load_config(config)
    task = progress.add_task("ABM at fixed rho", total=len(TABLE_IV_RHOS) * max(seeds, 0))
    return table4_abm_panel(cfg, seeds, seed, out, on_run=lambda: progress.advance(task))
