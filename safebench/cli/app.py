"""The ``safebench`` command: one module per subcommand, gathered here."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer

from kernel import secrets
from kernel.untrusted import visible
from safebench.cli import (
    attacks_cmd,
    calibrate_cmd,
    check_cmd,
    dataset_cmd,
    experiment_cmd,
    export_cmd,
    generate_cmd,
    init_cmd,
    media_cmd,
    rejudge_cmd,
    report_cmd,
    rules_cmd,
    run_cmd,
    serve_cmd,
    study_cmd,
    taxonomy_cmd,
    transcripts_cmd,
)
from safebench.cli.helptext import TidyHelpGroup

HELP = "Safety evaluation of multimodal LLMs with a deliberating LLM jury."

app = typer.Typer(
    name="safebench",
    help=HELP,
    cls=TidyHelpGroup,
    no_args_is_help=True,
    add_completion=False,
    # Typer's pretty tracebacks print every frame's locals, keys held by routes included.
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"safebench {version('safebench')}")
        raise typer.Exit()


@app.callback(help=HELP)
def plug_in_builtins(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    # Every command (not ``--help``) knows the offline models before it reads a config:
    # ``safebench/…`` names are checked against the catalogue the offline stack fills when
    # its package is imported. Light: names and modalities only, no model library.
    import safebench.offline  # noqa: F401


app.command("run")(run_cmd.run)
app.command("check")(check_cmd.check)
app.command("export")(export_cmd.export)
app.command("rejudge")(rejudge_cmd.rejudge)
app.command("calibrate")(calibrate_cmd.calibrate)
app.command("experiment")(experiment_cmd.experiment)
app.command("report")(report_cmd.report)
app.add_typer(transcripts_cmd.app, name="transcripts")
app.add_typer(dataset_cmd.app, name="dataset")
app.command("serve")(serve_cmd.serve)
app.add_typer(taxonomy_cmd.app, name="taxonomy")
app.command("generate")(generate_cmd.generate)
app.command("media")(media_cmd.media)
app.command("attacks")(attacks_cmd.attacks)
app.command("study")(study_cmd.study)
app.command("init")(init_cmd.init)
app.command("rules")(rules_cmd.rules)


def main() -> None:
    try:
        app()
    except Exception as exc:
        # An expected failure (a locked, full or damaged store, an error a command did not
        # catch) is one line naming the cause and what to do, with its documented exit code.
        from safebench.cli.failures import explain

        failure = explain(exc)
        if failure is not None:
            line = " ".join(secrets.scrub(failure.line).split())
            sys.stderr.write(f"error: {visible(line)}\n")
            raise SystemExit(failure.exit_code) from None
        # A bug's traceback: plain (no frame locals) and with every known secret masked, as
        # CI logs keep stderr.
        sys.stderr.write(secrets.scrub(traceback.format_exc()))
        raise SystemExit(1) from None
