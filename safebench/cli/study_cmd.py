"""``safebench study SPEC``: run one of the paper's studies (every cell) and write its tables."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line, inert
from safebench.cli.consoles import CliConsole
from safebench.cli.progress import progress_bar
from safebench.cli.run_cmd import RichProgress

console = CliConsole()
errors = CliConsole(stderr=True)


class RichStudyProgress:
    """A cells bar over the current cell's cases bar (judged/skipped/failed counts)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.cells: TaskID = bar.add_task("cells", total=None, counts="")
        self.cases: RichProgress | None = None

    def preparing(self, what: str) -> None:
        self.bar.update(self.cells, counts=f"preparing {what}")

    def cell(self, index: int, total: int, cell: Any) -> RichProgress:
        # The finished cell's cases bar goes; the cells bar counts it.
        if self.cases is not None and self.cases.task is not None:
            self.bar.remove_task(self.cases.task)
        self.bar.update(self.cells, total=total, completed=index, counts=inert(cell.name).plain)
        self.cases = RichProgress(self.bar)
        return self.cases

    def done(self) -> None:
        if self.cases is not None and self.cases.task is not None:
            self.bar.remove_task(self.cases.task)
        task = self.bar.tasks[0]
        self.bar.update(self.cells, completed=task.total, counts="done")


def study(
    spec: Annotated[
        Path, typer.Argument(help="Study spec (YAML), e.g. examples/studies/image-quality.yaml")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Study folder (default runs/study-<name>)")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Queries per cell (replaces the spec's limit:)"),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            metavar="MODEL",
            help="A target model; repeat it. Replaces the base's targets",
        ),
    ] = None,
    juror: Annotated[
        list[str] | None,
        typer.Option(
            "--juror", metavar="MODEL", help="A juror model; repeat it. Replaces the base's jurors"
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Run a study: every cell (an ordinary run with its own store, resumed on rerun), then
    study.md and study.csv in the paper's layouts, a plot per axis and study.html linking
    each cell's report.

    A spec names a base run config and its axes: condition (image controls), modality
    (`audio:<voice>`, `audio+text:<voice>`, ...), attack, dataset; docs/studies.md.
    """
    configure_logging(verbose)
    from safebench.cli.check_cmd import refuse_unready
    from safebench.cli.run_cmd import run_stoppable
    from safebench.run.preflight import check_run
    from safebench.studies.cells import base_config
    from safebench.studies.spec import load_study

    started = time.monotonic()
    try:
        targets = [{"model": model} for model in target] if target else None
        overrides: dict[str, Any] = {"limit": limit, "targets": targets, "jurors": juror}
        spec_model = load_study(spec, {k: v for k, v in overrides.items() if v})
        # What the cells' first calls need, before any cell starts: exit 2 on a missing key.
        refuse_unready(check_run(base_config(spec_model)))
        from safebench.studies.runner import run_study

        folder = out or Path("runs") / f"study-{spec_model.name}"
        if folder.exists() and not folder.is_dir():
            # Refused before any cell runs: the cells' stores and the tables go in a folder.
            errors.print(
                inert(f"error: {folder} is a file, not a folder; give --out a folder path")
            )
            raise typer.Exit(2)
        with progress_bar(console, quiet=quiet, field="counts") as bar:
            progress = RichStudyProgress(bar)
            result = run_stoppable(run_study(spec_model, folder, progress), "study")
            progress.done()
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    _print_cells(result)
    _print_results(result)
    _print_cell_failures(result)
    for path in result.files[:3]:
        console.print(f"wrote {path}", markup=False, highlight=False)
    console.print(
        f"{len(result.files) - 3} plots in {folder / 'plots'}; {time.monotonic() - started:.1f}s",
        markup=False,
        highlight=False,
    )
    if result.failed:
        names = ", ".join(o.cell.name for o in result.failed)
        errors.print(f"cells not complete: {names}; rerun the same command to resume them")
        raise typer.Exit(3)


def _print_cell_failures(result: Any) -> None:
    """Each cell's failed cases grouped by cause, as a run ends (``safebench.run.failures``)."""
    from safebench.cli.run_cmd import print_failures, stored_failures

    for outcome in result.outcomes:
        if outcome.counts.get("failed") and outcome.cell.store.is_file():
            console.print(inert(f"cell {outcome.cell.name}:"), soft_wrap=True)
            print_failures(stored_failures(outcome.cell.store))


def _print_cells(result: Any) -> None:
    table = Table(title=f"Study {result.spec.name}: cells")
    table.add_column("cell")
    table.add_column("status", no_wrap=True)  # "no verdicts" whole: a reader looks for it
    table.add_column("cases", justify="right")
    table.add_column("calls made", justify="right")
    table.add_column("read back", justify="right")
    for outcome in result.outcomes:
        counts = " ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items()))
        table.add_row(
            inert(outcome.cell.name),
            outcome.status,
            counts,
            str(outcome.model_calls),
            str(outcome.cached_calls),
        )
    console.print(table)


def _print_results(result: Any) -> None:
    """The study's tables (study.md's, in the paper's layouts) on the terminal too: the
    results were only in study.md, and the terminal showed the cells alone."""
    from safebench.studies.cells import labels_of
    from safebench.studies.tables import study_tables

    for found in study_tables(result.spec, result.rows, labels_of(result.spec)):
        table = Table(title=inert(found.title))
        for index, column in enumerate(found.columns):
            table.add_column(inert(column), justify="left" if index == 0 else "right")
        for row in found.rows:
            table.add_row(*(inert(cell) for cell in row))
        console.print(table)
        if found.note:
            console.print(inert(found.note))
