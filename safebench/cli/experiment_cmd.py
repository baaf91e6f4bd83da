"""``safebench experiment SPEC``: sweep jury configurations over a labelled set."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, TaskID
from rich.table import Table
from rich.text import Text

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line, inert
from safebench.cli.consoles import CliConsole
from safebench.cli.options import StrictLabels

console = CliConsole()
errors = CliConsole(stderr=True)


def experiment(
    spec: Annotated[Path, typer.Argument(help="Experiment spec (YAML)")],
    out: Annotated[
        Path | None, typer.Option(help="Folder for plots and results.csv (runs/experiment-<name>)")
    ] = None,
    store: Annotated[Path | None, typer.Option(help="Store (the call cache)")] = None,
    top: Annotated[int | None, typer.Option(help="Print only the best N rows")] = None,
    labels: Annotated[
        Path | None,
        typer.Option(help="Score on this labelled set instead of the spec's labels or run"),
    ] = None,
    strict_labels: StrictLabels = False,
    juror: Annotated[
        list[str] | None,
        typer.Option(
            "--juror", metavar="MODEL", help="A pool model; repeat it. Replaces the spec's pool"
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Use only the first N labelled items")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Items deliberated at once")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Score every jury configuration of SPEC against people; plot and name the best."""
    configure_logging(verbose)
    from safebench.cli.check_cmd import refuse_unready
    from safebench.cli.progress import loading_note, progress_bar
    from safebench.cli.run_cmd import run_stoppable
    from safebench.offline.trained_on import trained_on_items, unrecorded_line
    from safebench.run.preflight import check_models
    from safebench.run.session import model_session
    from safebench.studies.experiment import (
        load_experiment,
        load_items,
        run_experiment,
        with_labels,
        with_overrides,
    )
    from safebench.studies.experiment_figures import write_plots

    started = time.monotonic()
    try:
        spec_model = load_experiment(spec)
        if labels is not None:
            spec_model = with_labels(spec_model, labels)
        spec_model = with_overrides(spec_model, jurors=juror, limit=limit, concurrency=concurrency)
        seats = {f"pool.{name}": model for name, model in spec_model.pool.items()}
        if spec_model.foreperson is not None:
            seats["foreperson"] = spec_model.foreperson
        refuse_unready(check_models(seats))  # a missing key: exit 2 before any call
        items = load_items(spec_model, strict=strict_labels)
        models = [*spec_model.pool_models(), spec_model.foreperson or ""]
        # Read before the sweep: a delta that cannot be read fails now, not after it.
        trained = trained_on_items([m for m in models if m], items)
        with progress_bar(console, quiet=quiet) as bar:
            ticks = BarTicks(bar, loading_note(m for m in models if m))
            result = run_stoppable(
                run_experiment(spec_model, store, items, open_models=model_session, progress=ticks),
                "experiment",
            )
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    folder = out or Path("runs") / f"experiment-{spec_model.name}"
    plots = write_plots(result, folder)
    _write_csv(result, folder / "results.csv")
    print_result(result, top)
    for name, n in trained.items():
        # A sweep over answers a pool model learnt from ranks juries on training figures.
        if n is None:
            console.print(inert(unrecorded_line([name])))
            continue
        console.print(
            inert(
                f"{name} was trained on {n} of these {len(items)} items: the figures above "
                "are partly training figures (`safebench calibrate` scores the others apart)."
            )
        )
    listed = ", ".join(str(p) for p in plots)
    console.print(inert(f"plots: {listed} | table: {folder / 'results.csv'}"))
    console.print(f"{time.monotonic() - started:.1f}s")


class BarTicks:
    """A sweep's progress (safebench.studies.experiment.StudyProgress) on the command's bar: one
    tick per item judged by each jury the sweep convenes."""

    def __init__(self, bar: Progress, loading: str | None = None) -> None:
        self.bar = bar
        self.task: TaskID | None = None
        self.loading = loading
        """Shown until the first item is judged (progress.loading_note)."""

    def start(self, total: int) -> None:
        self.task = self.bar.add_task("items judged", total=total, note=self.loading or "")

    def advance(self) -> None:
        if self.task is not None:
            self.bar.update(self.task, advance=1, note="")


def _ordered(result: Any) -> list[Any]:
    metric = result.spec.select_by
    return sorted(result.rows, key=lambda r: (-r.score(metric), r.calls_per_verdict))


def print_result(result: Any, top: int | None = None) -> None:
    rows = _ordered(result)
    table = Table(
        title=inert(
            f"{result.spec.name}: {len(result.rows)} configurations on {result.items} items"
        )
    )
    table.add_column("panel", overflow="fold", min_width=18)
    table.add_column("rule", no_wrap=True)
    table.add_column("rounds")
    for column in ("size", "n", "accuracy", "kappa", "F1", "calls"):
        table.add_column(column, justify="right")
    for row in rows[:top] if top else rows:
        c = row.confusion
        config = row.config
        options = ",".join(f"{k}={v}" for k, v in config.rule.options().items())
        table.add_row(
            inert(" + ".join(config.panel)),
            inert(f"{config.rule.rule}({options})" if options else config.rule.rule),
            inert(f"{config.rounds} {config.protocol}" if config.rounds else "0"),
            str(row.size),
            str(c.n),
            f"{100 * c.accuracy:.1f}%",
            f"{c.kappa:.3f}",
            f"{c.f1:.3f}",
            f"{row.calls_per_verdict:.2f}",
        )
    console.print(table)
    base = result.baseline
    always = "harmful" if base.tp + base.fp else "not harmful"
    # The floor for every row: accuracy alone flatters a jury on a lopsided set.
    console.print(
        f"majority class (always {always}): accuracy {100 * base.accuracy:.1f}%, "
        f"kappa {base.kappa:.3f}, F1 {base.f1:.3f}"
    )
    by_size: dict[int, list[float]] = {}
    for row in result.rows:
        by_size.setdefault(row.size, []).append(row.confusion.accuracy)
    for size, values in sorted(by_size.items()):
        console.print(
            f"size {size}: {len(values)} configurations, accuracy "
            f"{100 * min(values):.1f}%-{100 * max(values):.1f}% "
            f"(mean {100 * sum(values) / len(values):.1f}%; majority class "
            f"{100 * base.accuracy:.1f}%)"
        )
    best = result.best
    console.print(
        Text.assemble(
            (f"best by {result.spec.select_by}:", "bold"),
            " ",
            inert(
                f"{best.config.label} (accuracy {100 * best.confusion.accuracy:.1f}% against "
                f"{100 * base.accuracy:.1f}% for the majority class, kappa "
                f"{best.confusion.kappa:.3f}, {best.calls_per_verdict:.2f} calls per verdict)"
            ),
        )
    )
    console.print(
        f"model calls: {result.model_calls} made, {result.cached_calls} read back from the store"
    )


def _write_csv(result: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "configuration",
                "size",
                "rule",
                "rounds",
                "protocol",
                "n",
                "undecided",
                "accuracy",
                "precision",
                "recall",
                "f1",
                "kappa",
                "tp",
                "fp",
                "fn",
                "tn",
                "calls_per_verdict",
                "baseline_accuracy",
                "baseline_f1",
                "baseline_kappa",
            ]
        )
        base = result.baseline
        for row in _ordered(result):
            c = row.confusion
            writer.writerow(
                [
                    row.config.label,
                    row.size,
                    row.config.rule.rule,
                    row.config.rounds,
                    row.config.protocol,
                    c.n,
                    c.undecided,
                    c.accuracy,
                    c.precision,
                    c.recall,
                    c.f1,
                    c.kappa,
                    c.tp,
                    c.fp,
                    c.fn,
                    c.tn,
                    row.calls_per_verdict,
                    base.accuracy,
                    base.f1,
                    base.kappa,
                ]
            )
