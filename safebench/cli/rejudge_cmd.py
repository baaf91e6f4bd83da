"""``safebench rejudge RUN --jury jury.yaml``: deliberate again on a run's stored answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from safebench.core.errors import SafeBenchError
from safebench.core.logs import configure_logging
from safebench.core.untrusted import error_line

errors = Console(stderr=True)


def rejudge(
    run: Annotated[Path, typer.Argument(help="The run's store, e.g. runs/offline-demo.sqlite")],
    jury: Annotated[Path, typer.Option(help="Jury file (a jury: mapping, or a run config)")],
    store: Annotated[
        Path | None,
        typer.Option(help="New store (default runs/<name>-rejudged-<juryhash>.sqlite)"),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Cases deliberated at once")] = 16,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Re-judge every answer of a finished run with another jury; no target is asked.

    The new store carries the run's queries, cases and answers; rerunning resumes it.
    """
    configure_logging(verbose)
    from safebench.cli.run_cmd import print_summary
    from safebench.config import load_jury_config

    try:
        jury_config = load_jury_config(jury)
        # Imported once the jury file is valid: re-judging pulls in the model libraries.
        from safebench.rejudge import rejudge as run_rejudge

        summary = asyncio.run(run_rejudge(run, jury_config, store, concurrency=concurrency))
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    print_summary(summary)
