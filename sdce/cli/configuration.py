"""`sdce config show|validate`: the resolved configuration and checks of configuration files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from sdce.cli.common import Command, ConfigOpt, clean_errors, command_group
from sdce.config import config_toml, load_config

config_app = command_group(help="Show or check configurations.")


@config_app.command("show", cls=Command)
def config_show(config: Optional[Path] = ConfigOpt) -> None:
    """Print the resolved configuration (Table I plus the added parameters) as TOML."""
    with clean_errors():
        sys.stdout.write(config_toml(load_config(config)))


@config_app.command("validate", cls=Command)
def config_validate(path: Path = typer.Argument(..., help="TOML file to check.")) -> None:
    """Check a configuration file; exit 2 with the reasons if it is invalid."""
    with clean_errors():
        load_config(path)
    typer.echo(f"{path}: valid")
