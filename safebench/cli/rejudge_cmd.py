"""``safebench rejudge RUN --jury jury.yaml``: deliberate again on a run's stored answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line
from safebench.cli.consoles import CliConsole

console = CliConsole()
errors = CliConsole(stderr=True)


def rejudge(
    run: Annotated[Path, typer.Argument(help="The run's store, e.g. runs/offline-demo.sqlite")],
    jury: Annotated[Path, typer.Option(help="Jury file (a jury: mapping, or a run config)")],
    store: Annotated[
        Path | None,
        typer.Option(help="New store (default runs/<name>-rejudged-<juryhash>.sqlite)"),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Cases deliberated at once")] = 16,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Re-judge every answer of a finished run with another jury; no target is asked.

    The new store carries the run's queries, cases and answers; rerunning resumes it.
    It ends with how the new jury's verdicts differ from the run's (agreement, kappa,
    cases flipped).
    """
    configure_logging(verbose)
    from safebench.cli.check_cmd import refuse_unready
    from safebench.cli.progress import jury_models, loading_note, progress_bar
    from safebench.cli.run_cmd import (
        RichProgress,
        exit_if_nothing_judged,
        print_failures,
        print_summary,
        run_stoppable,
    )
    from safebench.run.config import load_jury_config
    from safebench.run.preflight import check_jury

    try:
        jury_config = load_jury_config(jury)
        refuse_unready(check_jury(jury_config))  # a missing key: exit 2 before any call
        # Imported once the jury file is valid: re-judging pulls in the model libraries.
        from safebench.run.rejudge import rejudge as run_rejudge
        from safebench.run.rejudge import verdict_change

        with progress_bar(console, quiet=quiet, field="counts") as bar:
            shown = RichProgress(bar, loading_note(jury_models(jury_config)))
            summary = run_stoppable(
                run_rejudge(run, jury_config, store, concurrency=concurrency, progress=shown),
                "rejudge",
            )
        change = verdict_change(run, summary.store)
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    print_summary(summary)
    print_failures(summary.failures)
    print_change(change)
    exit_if_nothing_judged(summary.counts)


def print_change(change: Any) -> None:
    """The new jury against the run's: the figures an auditor asks first."""
    if not change.decided:
        console.print(
            f"against the source run: {change.compared} case(s) with a verdict in both, "
            "none decided by both juries"
        )
        return
    console.print(
        f"against the source run: {change.decided} case(s) decided by both juries agree "
        f"{100 * change.agreement:.1f}% (Cohen's kappa {change.kappa:.3f}); "
        f"{change.flipped} flipped ({change.to_harmful} now harmful, {change.to_safe} now not "
        f"harmful); {change.now_undecided} now undecided, {change.now_decided} now decided"
    )
