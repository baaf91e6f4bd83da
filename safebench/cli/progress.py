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
    Task,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text


def progress_bar(console: Console, *, quiet: bool, field: str = "note") -> Progress:
    """A bar with done/total, a note, elapsed and remaining time. ``field`` names the task
    field shown as the note (``add_task(..., <field>=…)``): judged/skipped/failed counts, or
    what the first items wait for.

    One line at 80 columns: the bar takes the room the rest leaves, so the count and the
    clock stay in sight (a long description once pushed both off the line while the harm
    judge loaded, for 15-35 s of text alone)."""
    columns: list[ProgressColumn] = [
        _Description(),
        BarColumn(bar_width=None, table_column=Column(ratio=1)),
        MofNCompleteColumn(),
        _Field(field),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    return Progress(*columns, console=console, disable=quiet, transient=False, expand=True)


class _Description(ProgressColumn):
    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        return Text(task.description, "bold", no_wrap=True)


class _Field(ProgressColumn):
    """A task field as plain text (empty when the task has none)."""

    def __init__(self, name: str) -> None:
        super().__init__(table_column=Column(no_wrap=True))
        self.name = name

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get(self.name, "")), no_wrap=True)


LOADED_ON_FIRST_USE = {
    "safebench/harm-judge": "the harm judge",
    "safebench/embedding-juror": "the embedding juror",
}
"""Offline models that load a neural network (and torch) when first asked: the first cases
wait for them (15-35 s for the harm judge), so the bar says so, with its clock running,
rather than sit silently at 0/N."""


def loading_note(models: Iterable[str]) -> str | None:
    """What the first items wait for, given the models a command's jury calls; None: nothing
    worth naming. Short: it shares the bar's line with the count and the clock."""
    heavy = [LOADED_ON_FIRST_USE[m] for m in dict.fromkeys(models) if m in LOADED_ON_FIRST_USE]
    return f"loading {' and '.join(heavy)}" if heavy else None


def jury_models(jury: Any) -> list[str]:
    """Every model a jury calls: its jurors' and its foreperson's."""
    models = [juror.model for juror in jury.jurors]
    return models + ([jury.foreperson.model] if jury.foreperson is not None else [])
