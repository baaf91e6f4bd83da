"""The ``safebench`` command: one module per subcommand, gathered here."""

from __future__ import annotations

import typer

from safebench.cli import calibrate_cmd, experiment_cmd, export_cmd, rejudge_cmd, run_cmd

app = typer.Typer(
    name="safebench",
    help="Safety evaluation of multimodal LLMs with a deliberating LLM jury.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("run")(run_cmd.run)
app.command("export")(export_cmd.export)
app.command("rejudge")(rejudge_cmd.rejudge)
app.command("calibrate")(calibrate_cmd.calibrate)
app.command("experiment")(experiment_cmd.experiment)


def main() -> None:
    app()
