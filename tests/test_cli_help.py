"""The command line follows typer's conventions (issue 17): every option shows its default, flags are flags,
named alternatives are real choices with completion, and help text is not eaten by rich markup."""

import re

import pytest
import typer
import typer._click as click
from typer.testing import CliRunner

from sdce.cli import app
from sdce.cli.common import Command, Group

runner = CliRunner()
MARKUP = re.compile(r"(?<!\\)\[[a-z#/@]")  # a rich markup tag: rich drops it from the help
CHOICES = {"regime", "policy", "grid", "rule", "family", "human", "data_mode", "domain", "size", "source"}
COUNTS = {(("theorem4",), "grid")}  # K, a number of grid points, not a choice


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _options(command):
    ctx = click.Context(command, info_name="sdce")
    return ctx, [p for p in command.get_params(ctx) if p.param_type_name == "option"]


def test_every_command_uses_the_sdce_classes():
    """Commands registered without `cls=Command` would show `<bool>` beside their flags again."""
    for path, command in COMMANDS:
        assert isinstance(command, Group if hasattr(command, "commands") else Command), path


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "sdce" for p, _ in COMMANDS])
def test_help_shows_every_default_and_flags_as_flags(path, command):
    ctx, options = _options(command)
    for option in options:
        assert not MARKUP.search(option.help or ""), (path, option.name, option.help)
        if option.is_flag:
            assert option.metavar == "", (path, option.name)
        elif not option.required:
            assert option.default is not None or isinstance(option.show_default, str), (path, option.name)
        if option.name in CHOICES and (path, option.name) not in COUNTS:
            assert option.type_descriptor.is_choice, (path, option.name)
            assert option.shell_complete(ctx, ""), (path, option.name)
    text = runner.invoke(app, [*path, "--help"], terminal_width=200).output
    assert "<bool>" not in text
    assert text.count("[default:") == sum(1 for o in options if not o.is_flag and not o.required), text


def test_an_unknown_choice_lists_the_choices_and_the_main_job_is_named():
    result = runner.invoke(app, ["run", "--regime", "pmi"])
    assert result.exit_code == 2 and "'pmir'" in result.output and "Traceback" not in result.output
    text = re.sub(r"[\s│]+", " ", runner.invoke(app, ["--help"]).output)
    assert "main job: `sdce reproduce all`" in text
