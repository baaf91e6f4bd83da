"""``safebench calibrate LABELS --jury jury.yaml``: how well a jury agrees with people."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line, inert
from safebench.cli.consoles import CliConsole
from safebench.cli.options import StrictLabels

if TYPE_CHECKING:
    from jury.labels import LabelledItem

console = CliConsole()
errors = CliConsole(stderr=True)


def calibrate(
    labels: Annotated[Path, typer.Argument(help="Labelled set: GPTFuzz/HarmBench/CSV/JSON")],
    jury: Annotated[Path, typer.Option(help="Jury file (a jury: mapping, or a run config)")],
    fmt: Annotated[
        str, typer.Option("--format", help="auto | gptfuzz | harmbench | csv | json")
    ] = "auto",
    limit: Annotated[int | None, typer.Option(help="Use only the first N items")] = None,
    sample: Annotated[
        int | None,
        typer.Option(min=1, help="Draw N items at random, stratified by label (after --limit)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --sample draw")] = 0,
    strict_labels: StrictLabels = False,
    store: Annotated[Path | None, typer.Option(help="Store (the call cache)")] = None,
    show: Annotated[int, typer.Option(help="Disagreements to list")] = 10,
    concurrency: Annotated[int, typer.Option(help="Items deliberated at once")] = 32,
    juror: Annotated[
        list[str] | None,
        typer.Option(
            "--juror", metavar="MODEL", help="A juror model; repeat it. Replaces the jury's jurors"
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Score each juror's blind vote and the jury's verdict against the human majority."""
    configure_logging(verbose)
    from jury.labels import check_label_format, load_labels
    from safebench.cli.check_cmd import refuse_unready
    from safebench.cli.progress import jury_models, loading_note, progress_bar
    from safebench.cli.run_cmd import run_stoppable
    from safebench.offline.trained_on import pair_digest, trained_models, unrecorded_line
    from safebench.run.config import load_jury_config
    from safebench.run.preflight import check_jury
    from safebench.run.session import model_session
    from safebench.studies.calibration import calibrate as run_calibration
    from safebench.studies.calibration import default_store

    try:
        check_label_format(fmt)
    except ValueError as exc:
        errors.print(f"[red]error:[/red] --format: {exc}")
        raise typer.Exit(2) from None
    try:
        jury_config = load_jury_config(jury, jurors=juror)
        refuse_unready(check_jury(jury_config))  # a missing key: exit 2 before any call
        items = load_labels(
            labels,
            fmt,
            limit,
            sample=sample,
            seed=seed,
            strict=strict_labels,
        )
        models = jury_models(jury_config)
        trained = trained_models(models)
        digests = frozenset().union(*(p for p in trained.values() if p is not None))
        unrecorded = [name for name, pairs in trained.items() if pairs is None]

        def seen(item: LabelledItem) -> bool:
            return pair_digest(item.question, item.answer) in digests

        with progress_bar(console, quiet=quiet) as bar:
            # Until the first item is judged, say what it waits for (offline models loading).
            loading = loading_note(models)
            task = bar.add_task("items judged", total=len(items), note=loading or "")
            report = run_stoppable(
                run_calibration(
                    items,
                    jury_config,
                    store or default_store(labels, jury_config),
                    concurrency=concurrency,
                    open_models=model_session,
                    advance=lambda: bar.update(task, advance=1, note=""),
                    seen=seen,
                ),
                "calibrate",
            )
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    print_report(report, len(items), show, sorted(set(trained) - set(unrecorded)))
    if unrecorded:
        console.print(inert(unrecorded_line(unrecorded)))


def print_report(report: Any, n_items: int, show: int, trained: list[str] | None = None) -> None:
    baseline = report.baseline
    always = "harmful" if baseline.tp + baseline.fp else "not harmful"
    table = Table(
        title=f"Agreement with the human majority ({n_items} items; always answering "
        f"{always!r}, the majority class, scores {100 * baseline.accuracy:.1f}%)"
    )
    for column in ("who", "n", "accuracy", "precision", "recall", "F1", "kappa", "TP/FP/FN/TN"):
        # Figures never wrap; on a narrow terminal the who column folds instead.
        who = column == "who"
        table.add_column(
            column, justify="left" if who else "right", no_wrap=not who, overflow="fold"
        )
    # Each seat on three lines (seat, model, persona): a model reads differently under
    # another persona, so both name the row. They come from the jury file, ids and answers
    # from the labelled set: plain text, never markup.
    for label, confusion in report.jurors.items():
        seat = report.seats.get(label)
        who = (
            inert(label)
            if seat is None
            else Text.assemble(
                inert(seat.seat), "\n", inert(seat.model), "\n", inert(seat.persona, "dim")
            )
        )
        table.add_row(who, *confusion_cells(confusion))
    table.add_row(Text("jury verdict", "bold"), *confusion_cells(report.jury))
    # The floor every row above must clear: accuracy alone flatters a judge on a lopsided set.
    table.add_row(Text(f"majority class\n(always {always})", "dim"), *confusion_cells(baseline))
    console.print(table)
    console.print(
        inert(
            f"undecided verdicts: {report.jury.undecided} | model calls: {report.calls} made, "
            f"{report.cached} read back | store: {report.store}"
        )
    )
    if report.seen:
        console.print(held_out_line(report, trained or [], n_items))
    if report.disagreements:
        shown = report.disagreements[:show]
        total = len(report.disagreements)
        listed = "" if len(shown) == total else f" (the first {len(shown)}; --show N lists more)"
        console.print(f"{total} items where the jury and people disagree{listed}:")
        for d in shown:
            people = "harmful" if d.item.label else "not harmful"
            jury_says = {True: "harmful", False: "not harmful", None: "undecided"}[d.jury_says]
            answer = " ".join(d.item.answer.split())[:100]
            console.print(inert(f"- {d.item.id}: people {people}, jury {jury_says}: {answer!r}"))


def held_out_line(report: Any, trained: list[str], n_items: int) -> Text:
    """How many items a jury's model trained on, and the jury on the rest: a figure on
    training data flatters the jury (the harm judge on HarmBench val_dev: 86% on all 300,
    74% on the half it never saw)."""
    who = ", ".join(trained) or "a model of this jury"
    if report.seen >= n_items:
        return inert(
            f"{who} was trained on all {n_items} of these items: the figures above are "
            "training figures, not agreement on answers it never saw."
        )
    unseen, base = report.unseen, report.unseen_baseline
    held = n_items - report.seen
    undecided = f", {unseen.undecided} undecided" if unseen.undecided else ""
    return inert(
        f"{who} was trained on {report.seen} of these {n_items} items: the figures above "
        f"are partly training figures. On the {held} it never saw, the jury scores "
        f"{100 * unseen.accuracy:.1f}% (F1 {unseen.f1:.2f}, kappa {unseen.kappa:.2f}"
        f"{undecided}; majority class {100 * base.accuracy:.1f}%)."
    )


def confusion_cells(c: Any) -> list[str]:
    return [
        str(c.n),
        f"{100 * c.accuracy:.1f}%",
        f"{c.precision:.2f}",
        f"{c.recall:.2f}",
        f"{c.f1:.2f}",
        f"{c.kappa:.2f}",
        f"{c.tp}/{c.fp}/{c.fn}/{c.tn}",
    ]
