"""The one progress bar every long-running command draws (rich, to the command's console)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(console: Console, *, quiet: bool, field: str | None = None) -> Progress:
    """A bar with done/total, elapsed and remaining time; ``field`` names a task field (set
    with ``add_task(..., <field>=…)``) shown beside it, e.g. judged/skipped/failed counts."""
    columns: list[ProgressColumn] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if field is not None:
        columns.append(TextColumn(f"{{task.fields[{field}]}}"))
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console, disable=quiet, transient=False)
