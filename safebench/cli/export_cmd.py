"""``safebench export RUN``: a run's records as JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kernel.errors import SafeBenchError
from kernel.untrusted import error_line, inert
from safebench.cli.consoles import CliConsole

console = CliConsole()


def export(
    store: Annotated[Path, typer.Argument(help="The run's store (runs/<name>.sqlite)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL file")],
    calls: Annotated[bool, typer.Option(help="Include every model call")] = False,
) -> None:
    """Write the run's cases, answers, votes and verdicts (one typed record per line)."""
    from safebench.audit.export import export_jsonl
    from transcripts.store import RunStore

    if not store.is_file():
        console.print(error_line(f"{store}: no such store"))
        raise typer.Exit(2)
    try:
        # Read-only: a file that is not a store is refused, never given tables.
        with RunStore.open_readonly(store) as run_store:
            count = export_jsonl(run_store, out, include_calls=calls)
    except SafeBenchError as exc:
        console.print(error_line(exc))
        raise typer.Exit(2) from None
    console.print(inert(f"wrote {count} records to {out}"))
