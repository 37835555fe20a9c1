"""The `sdce` command line: one module per command group; each parses its options, calls the model layers and
prints (a table, or one JSON object with `--json`). Model errors end as one clean line (`common.clean_errors`)."""

from __future__ import annotations

from sdce.cli import calibrate, configuration, limit, policy, reproduce, simulate, theorems, viz
from sdce.cli.common import Command, command_group

app = command_group(pretty_exceptions_enable=False,
                    help="Simulate synthetic-data markets under model collapse (SDCE). The main job: `sdce reproduce "
                         "all` (the paper's tables and theorems, ours beside the published, in one report).")
app.add_typer(configuration.config_app, name="config")
app.add_typer(calibrate.calibrate_app, name="calibrate")
app.add_typer(reproduce.reproduce_app, name="reproduce")
app.add_typer(policy.policy_app, name="policy")
for command in (simulate.run, simulate.regimes, simulate.collapse, limit.meanfield, limit.equilibrium, limit.compare,
                calibrate.retrain, theorems.theorem5, theorems.theorem4, viz.viz):
    app.command(cls=Command)(command)


def main() -> None:
    app()
