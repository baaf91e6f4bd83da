"""``safebench run CONFIG``: evaluate, or resume, a run and print its ASR/SRI table."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    Progress,
    TaskID,
)
from rich.table import Table
from rich.text import Text

from safebench.cli.progress import progress_bar
from safebench.cli.untrusted import error_line, inert, labelled
from safebench.errors import RunAborted, SafeBenchError
from safebench.logs import configure_logging

console = Console()
errors = Console(stderr=True)


class RichProgress:
    """The pipeline's progress, drawn as a rich bar with judged/skipped/failed counts."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.counts = {"judged": 0, "skipped": 0, "failed": 0}

    def start(self, total: int, already_done: int) -> None:
        self.task = self.progress.add_task(
            "cases", total=total, completed=already_done, counts=self._counts()
        )

    def advance(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.task is not None:
            self.progress.update(self.task, advance=1, counts=self._counts())

    def _counts(self) -> str:
        return " ".join(f"{k} {v}" for k, v in self.counts.items())


def run(
    config: Annotated[Path, typer.Argument(help="Run config (YAML), e.g. examples/offline.yaml")],
    store: Annotated[
        Path | None, typer.Option(help="Store path (default runs/<name>.sqlite)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N queries")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Cases in flight at once")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Send every query to every target, let the jury deliberate, store everything.

    Rerunning the same command resumes: finished cases and recorded model calls are reused.
    """
    configure_logging(verbose)
    # Imported here so that `safebench --help` does not pay for litellm's import.
    from safebench.config import load_run_config
    from safebench.pipeline import run_evaluation

    overrides: dict[str, Any] = {}
    if store is not None:
        overrides["store"] = store
    if limit is not None:
        overrides["limit"] = limit
    if concurrency is not None:
        overrides["concurrency"] = concurrency
    try:
        run_config = load_run_config(config, overrides)
        with progress_bar(console, quiet=quiet, field="counts") as bar:
            summary = asyncio.run(run_evaluation(run_config, RichProgress(bar)))
    except RunAborted as exc:
        errors.print(labelled("run aborted:", exc))
        raise typer.Exit(3) from None
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    print_summary(summary)


def print_summary(summary: Any) -> None:
    table = Table(title="Attack success rate (ASR, 95% CI) and safety risk index (SRI)")
    table.add_column("target")
    table.add_column("category")
    table.add_column("n", justify="right")
    table.add_column("ASR", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("SRI", justify="right")
    rows = sorted(summary.by_target_category.items())
    last_target = None
    for (target, category), score in rows:
        if last_target is not None and target != last_target:
            _total_row(table, last_target, summary.by_target[last_target])
            table.add_section()
        # Target and category names come from the config and the dataset: plain text only.
        table.add_row(inert(target), inert(category), *_cells(score))
        last_target = target
    if last_target is not None:
        _total_row(table, last_target, summary.by_target[last_target])
    console.print(table)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
    console.print(
        f"cases: {counts} | model calls: {summary.model_calls} made, "
        f"{summary.cached_calls} read back from the store, {summary.retries} retries | "
        f"{summary.wall_s:.1f}s"
    )
    console.print(Text.assemble("store: ", inert(summary.store)))


def _total_row(table: Table, target: str, score: Any) -> None:
    table.add_row(inert(target, "bold"), Text("all categories", "bold"), *_cells(score))


def _cells(score: Any) -> list[str]:
    if score.asr is None:
        return [str(score.n), "-", "-", "-" if score.sri is None else f"{score.sri:.1f}"]
    return [
        str(score.n),
        f"{100 * score.asr:.1f}%",
        f"{100 * score.asr_low:.0f}-{100 * score.asr_high:.0f}%",
        "-" if score.sri is None else f"{score.sri:.1f}",
    ]
