"""``safebench serve RUN|DIR``: the read-only web viewer of one run store, or of every store
under a folder, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kernel.logs import configure_logging
from safebench.cli.consoles import CliConsole

console = CliConsole()
errors = CliConsole(stderr=True, soft_wrap=True)


def serve(
    run: Annotated[
        Path,
        typer.Argument(
            help="A run store (.sqlite), or a folder: every store under it (runs, studies, "
            "rejudges)"
        ),
    ],
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback exposes the run")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port)")] = 8765,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Browse a run's cases (split juries first) and read each deliberation; given a folder,
    list its runs and compare two of them case by case."""
    configure_logging(verbose)
    from aiohttp import web

    from kernel.errors import StoreError
    from kernel.untrusted import error_line
    from safebench.audit.viewer import make_app

    if not run.is_file() and not run.is_dir():
        errors.print(f"error: {run}: no such run store or folder", markup=False, highlight=False)
        raise typer.Exit(2)
    if host not in ("127.0.0.1", "localhost", "::1"):
        errors.print(
            f"warning: binding {host}: anyone who can reach it can read "
            + ("every run under this folder" if run.is_dir() else "this run"),
            markup=False,
            highlight=False,
        )
    try:
        # Read-only; a file that is not a SafeBench store is refused here, with its name.
        app = make_app(run, host)
    except StoreError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    web.run_app(
        app,
        host=host,
        port=port,
        print=lambda _: console.print(
            f"serving {run} on http://{host}:{port}/ (Ctrl-C to stop)", markup=False
        ),
    )
