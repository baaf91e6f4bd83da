"""The one progress bar every long-running command draws (rich, to the command's console)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


LOADED_ON_FIRST_USE = {
    "safebench/harm-judge": "the offline harm judge (a MiniLM cross-encoder)",
    "safebench/embedding-juror": "the offline embedding juror (MiniLM embeddings)",
}
"""Offline models that load a neural network (and torch) when first asked: the first cases
wait for them, so the bar says so rather than sit silently at 0/N."""


def loading_note(models: Iterable[str]) -> str | None:
    """What the first items wait for, given the models a command's jury calls; None: nothing
    worth naming."""
    heavy = [LOADED_ON_FIRST_USE[m] for m in dict.fromkeys(models) if m in LOADED_ON_FIRST_USE]
    return f"loading {' and '.join(heavy)} on first use" if heavy else None


def jury_models(jury: Any) -> list[str]:
    """Every model a jury calls: its jurors' and its foreperson's."""
    models = [juror.model for juror in jury.jurors]
    return models + ([jury.foreperson.model] if jury.foreperson is not None else [])
