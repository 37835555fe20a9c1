"""Shared pieces of the command line: consoles, options, parsing, clean errors, progress bars, tables and JSON."""

from __future__ import annotations

import numbers
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Literal, Optional, Sequence

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from calibration.abm_panel import table4_abm_panel
from sdce.budget import check_abm
from sdce.config import REGIMES, SDCEConfig, load_config
from sdce.economics.policy import POLICIES
from sdce.errors import ConfigError, NotConverged
from sdce.paper.published import TABLE_IV_RHOS
from sdce.strict_json import dumps
from sdce.table_cells import cell, table_scale

err = Console(stderr=True, soft_wrap=True)


def stdout() -> Console:
    """Standard output wide enough for the tables even when it is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _flags_as_flags(params: list) -> list:
    """Flags take no value, so their help shows no type (typer's rich help prints `<bool>` beside them)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """Every `sdce` command: typer's, with flags shown as flags."""

    def get_params(self, ctx):
        return _flags_as_flags(super().get_params(ctx))


class Group(TyperGroup):
    """Every `sdce` command group: typer's, with flags shown as flags."""

    def get_params(self, ctx):
        return _flags_as_flags(super().get_params(ctx))


def command_group(help: str, **settings) -> typer.Typer:
    """A Typer app of `sdce` commands (register each with `cls=Command`), with help on no arguments."""
    return typer.Typer(cls=Group, no_args_is_help=True, help=help, **settings)


def configured(field: str) -> str:
    """The default an option shows when it overrides a configuration field: the field's default (Table I or the
    specification, `sdce config show`) unless the --config file sets it."""
    return f"--config, else {SDCEConfig.model_fields[field].default}"


Regime = Literal[REGIMES]
Policy = Literal[POLICIES]
LearningRule = SDCEConfig.model_fields["learning_rule"].annotation
Domain = SDCEConfig.model_fields["retrain_domain"].annotation
RetrainSize = SDCEConfig.model_fields["retrain_size"].annotation
DataMode = SDCEConfig.model_fields["data_mode"].annotation
Family = SDCEConfig.model_fields["family"].annotation

ConfigOpt = typer.Option(None, "--config", show_default="Table I (`sdce config show`)",
                         help="TOML file of parameters.")
PolicyOpt = typer.Option(None, "--policy", show_default=configured("policy"),
                         help="Policy instrument on top of the regime (docs/model.md §7).")
SubsidyOpt = typer.Option(None, "--subsidy", show_default=configured("subsidy"),
                          help="s per unit of perceived human content, or 'optimal' (eq. 10).")
WatermarkOpt = typer.Option(None, "--watermark", show_default=configured("watermark"),
                            help="Watermark strength w, or 'optimal' (eq. 12).")
CapOpt = typer.Option(None, "--royalty-cap", show_default=configured("royalty_cap"),
                      help="p̄, cap on the royalty charged.")
TransferOpt = typer.Option(None, "--transfer", show_default=configured("transfer"),
                           help="Lump sum per producer, levied on trainers.")
RegimeOpt = typer.Option(None, "--regime", show_default=configured("regime"), help="Who is paid, and how (§6).")
GenerationsOpt = typer.Option(None, "--generations", show_default=configured("generations"),
                              help="T, generations after generation 0.")
ForceOpt = typer.Option(False, "--force", help="Clear an output folder that holds another run, instead of refusing it.")
JsonOpt = typer.Option(False, "--json", help="Print the result as one JSON object on standard output.")


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
    """The progress bars of long commands, on standard error, gone when done: done/total, time spent, time left."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn(), console=err, transient=True)


@contextmanager
def solving(what: str) -> Iterator[None]:
    """A spinner with the time spent, while one jitted solve runs (a solve reports no steps on the way)."""
    with Progress(SpinnerColumn(), TextColumn(what), TimeElapsedColumn(), console=err, transient=True) as progress:
        progress.add_task(what, total=None)
        yield


def announce(out: Path) -> None:
    """Say where the results go, before the work starts."""
    err.print(f"writing to {out}/", highlight=False)


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
    """A data frame as a table on standard output: numbers as `sdce.table_cells.cell` (NaN and None blank,
    round-off as 0, no signed zero)."""
    rows = list(frame.itertuples(index=False))
    scale = table_scale(v for row in rows for v in row)
    print_table(title, [str(c) for c in frame.columns],
                ([cell(v, ".4g", scale) if v is None or _fractional(v) else str(v) for v in row] for row in rows))


def _fractional(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)


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
