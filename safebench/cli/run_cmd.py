"""``safebench run CONFIG``: evaluate, or resume, a run and print its ASR/SRI table."""

from __future__ import annotations

import asyncio
import signal
import sys
import warnings
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    Progress,
    TaskID,
)
from rich.table import Table
from rich.text import Text

from kernel.errors import RunAborted, SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line, inert, labelled
from safebench.cli.consoles import CliConsole, fitted
from safebench.cli.progress import jury_models, loading_note, progress_bar

console = CliConsole()
errors = CliConsole(stderr=True)
T = TypeVar("T")


class RichProgress:
    """The pipeline's progress, drawn as a rich bar with judged/skipped/failed counts.

    ``loading`` (progress.loading_note) takes the counts' place until the first case ends:
    what the first cases wait for, beside the count and the clock."""

    def __init__(self, progress: Progress, loading: str | None = None) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.counts = {"judged": 0, "skipped": 0, "failed": 0}
        self.loading = loading
        self.total: int | None = None
        self.already_done = 0

    def start(self, total: int, already_done: int) -> None:
        self.total, self.already_done = total, already_done
        self.task = self.progress.add_task(
            "cases", total=total, completed=already_done, counts=self.loading or self._counts()
        )

    def nothing_to_do(self) -> str | None:
        """A line saying the run asked nothing (every case already finished, no failed case
        to retry), once it ended; None when it had work."""
        if self.total is None or self.already_done < self.total or sum(self.counts.values()):
            return None
        if self.total == 0:
            return "nothing to do: no case to ask (with --retry-failed: no failed case)"
        return (
            f"nothing to do: all {self.total} cases were already finished in the store; "
            "the results below are read from it"
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
    sample: Annotated[
        int | None,
        typer.Option(help="Evaluate a seeded sample of N queries per risk scenario"),
    ] = None,
    sample_total: Annotated[
        int | None,
        typer.Option(help="Evaluate a seeded sample of N queries in all, stratified by scenario"),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="The sample's seed (default 0; with --sample*)")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Cases in flight at once")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="Print what the run would cost (cases, calls, tokens, dollars, wall time) "
            "without calling any model or writing the store",
        ),
    ] = False,
    latency: Annotated[
        float, typer.Option(min=0.001, help="With --estimate: seconds one model call takes")
    ] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="With --estimate: print JSON")] = False,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            metavar="MODEL",
            help="A target model (provider/model); repeat it. Replaces targets:",
        ),
    ] = None,
    juror: Annotated[
        list[str] | None,
        typer.Option(
            "--juror",
            metavar="MODEL",
            help="A juror model (provider/model); repeat it. Replaces jury.jurors:",
        ),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Ask only the store's failed cases again, no case that never started (same "
            "run, same identity; recorded successful calls are read back)",
        ),
    ] = False,
) -> None:
    """Send every query to every target, let the jury deliberate, store everything.

    The jury (its size: the seats under jury.jurors; voting rule, rounds, protocol, early
    stop, rubric) is set in the config's `jury:` section: `safebench init` writes a
    commented starter config, `safebench rules` lists every rule, persona and model name.

    Rerunning the same command resumes: finished cases and recorded model calls are reused.
    SIGTERM stops the run cleanly (its workers too; status stopped): rerun to resume.

    A store is bound to the config that made it: a rerun that changes anything that changes
    results (the dataset or its content, modalities, a target or its params, the jury, its
    voting rule or options, the prompts' version, the sample, a smaller limit) is refused
    before any model call, naming each changed field; give it a new name (or --store), or
    use `safebench rejudge` for a new jury. Concurrency, workers, gateway settings, timeouts,
    endpoints, keys and a larger limit may change on resume. One process writes a store at
    a time: a second run on a store in use is refused, naming the process that holds it.

    A `budget:` stops the run cleanly before a call would pass it (status budget, exit code
    4); raise it and rerun to resume (a budget may change on resume).

    --sample N (or --sample-total N) asks a seeded sample stratified by risk scenario, not
    the first N queries; the summary says which queries were asked.
    """
    configure_logging(verbose)
    from safebench.run.config import load_run_config

    overrides: dict[str, Any] = {}
    if store is not None:
        overrides["store"] = store
    if limit is not None:
        overrides["limit"] = limit
    if concurrency is not None:
        overrides["concurrency"] = concurrency
    if retry_failed:
        overrides["only_failed"] = True
    if sample is not None or sample_total is not None:
        overrides["sample"] = {"per_scenario": sample, "total": sample_total, "seed": seed or 0}
    elif seed is not None:
        errors.print("error: --seed draws a sample: give --sample N or --sample-total N")
        raise typer.Exit(2)
    try:
        run_config = load_run_config(config, overrides, targets=target, jurors=juror)
        if estimate:
            from safebench.cli.estimate_view import print_estimate

            print_estimate(console, run_config, latency, as_json=as_json)
            return
        # What the first call needs, before anything is written: a missing key or an
        # unpriced model under a dollar budget is exit 2 here, never a run of failed cases.
        from safebench.cli.check_cmd import print_findings
        from safebench.run.preflight import check_run, errors_of

        findings = check_run(run_config)
        print_findings(findings)
        if errors_of(findings):
            raise typer.Exit(2)
        # Imported once the config is valid: the pipeline pulls in the model libraries
        # (seconds), which a config error or `--help` must not wait for.
        from safebench.run.pipeline import run_evaluation

        with progress_bar(console, quiet=quiet, field="counts") as bar:
            shown = RichProgress(bar, loading_note(jury_models(run_config.jury)))
            summary = run_stoppable(run_evaluation(run_config, shown), "run")
    except RunAborted as exc:
        print_failures(stored_failures(run_config.store_path()))
        errors.print(labelled("run aborted:", exc))
        raise typer.Exit(3) from None
    except SafeBenchError as exc:
        # A run stopped at its budget has loaded the case runner; an error before then must
        # not wait seconds to import it just to be told apart.
        cases = sys.modules.get("safebench.run.cases")
        if cases is not None and isinstance(exc, cases.RunOverBudget):
            print_summary(exc.summary)
            print_spending(exc.summary)
            errors.print(Text(str(exc)))
            raise typer.Exit(4) from None
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    idle = shown.nothing_to_do()
    if idle is not None:
        console.print(idle, markup=False, highlight=False)
    print_summary(summary)
    print_selection(run_config)
    print_spending(summary)
    print_failures(summary.failures)
    exit_if_nothing_judged(summary.counts)


NOTHING_JUDGED = 5
"""Exit code of a run (or rejudge) that judged no case while some failed."""


def print_failures(failures: Sequence[Any], out: Console | None = None) -> None:
    """The failed cases grouped by cause, a line per group (``safebench.run.failures``)."""
    for group in failures:
        cases = "case" if group.count == 1 else "cases"
        line = (
            f"failed: {group.count} {cases} | {group.stage} | {group.kind} | "
            f"{group.model or '-'} | {group.first}"
        )
        (out or console).print(Text(line), soft_wrap=True)


def stored_failures(store: Path) -> list[Any]:
    """The failure groups of the store at ``store`` (read only)."""
    from safebench.run.failures import failure_groups
    from transcripts.store import RunStore

    with RunStore.open_readonly(store) as opened:
        return failure_groups(opened.iter_cases())


def exit_if_nothing_judged(counts: dict[str, int]) -> None:
    """Exit non-zero when no case was judged and any failed, whatever the run's size: a run
    of failures is not a result (it used to exit 0 below the abort threshold's 20 cases)."""
    failed = counts.get("failed", 0)
    if counts.get("judged", 0) == 0 and failed:
        errors.print(
            f"error: no case was judged and {failed} failed (causes above); fix the cause, "
            "then rerun with --retry-failed to ask the failed cases again"
        )
        raise typer.Exit(NOTHING_JUDGED)


def print_spending(summary: Any) -> None:
    """What the run's store records as spent, every session of the run together."""
    console.print(
        f"spent so far: {summary.spent_calls} model calls, ${summary.spent_usd:.4f} "
        f"({summary.priced_calls} priced by litellm's map)"
    )


def run_stoppable(work: Coroutine[Any, Any, T], what: str) -> T:
    """``asyncio.run(work)``, stopped cleanly by Ctrl-C or SIGTERM: one line saying how to
    resume and exit 130 or 143, with no traceback or Python warning (``what``: "rejudge",
    "study" …, for the line)."""
    try:
        return asyncio.run(_stop_on_signals(work))
    except _Stopped as stop:
        how = "Ctrl-C" if stop.signum == signal.SIGINT else "SIGTERM"
        # Two lines, each within 80 columns: what to do is never split by the wrap.
        errors.print(
            f"{what} stopped ({how}): finished work is in the store;\n"
            "rerun the same command to resume",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(128 + stop.signum) from None


class _Stopped(Exception):
    """The run was cancelled by a signal (SIGINT: Ctrl-C, or SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def _stop_on_signals(run: Coroutine[Any, Any, T]) -> T:
    """Await ``run``; Ctrl-C or SIGTERM cancels it, so the run ends cleanly whichever
    arrives: worker processes stopped, status ``stopped`` in the store, the store closed.
    Without this a SIGTERM (a scheduler's, a container stop) killed the process mid-run with
    the status left ``running``, and Ctrl-C ended in a KeyboardInterrupt with Python's
    warnings about the calls it cut."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if not received:
            received.append(signum)
            # litellm hops some calls through a thread and awaits the coroutine that comes
            # back; a call cut at that point is reported as "never awaited" at exit. It is a
            # call the stop cancelled on purpose, not a bug to show the user.
            warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await run
    except asyncio.CancelledError:
        if received:
            raise _Stopped(received[0]) from None
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def print_summary(summary: Any, out: Console | None = None) -> None:
    """The run's ASR/SRI table, one table per target, readable at 80 columns: each target's
    name is a line of its own (never cut, however long: a terminal wraps it, and a copy
    of it is whole), categories wrap on word boundaries, figures never wrap. A target asked
    in several modalities has a row per modality (as the report has); each reason cases
    were skipped for is a line under the counts."""
    out = out or console
    out.print(Text("Attack success rate (ASR, 95% CI) and safety risk index (SRI)", "bold"))
    by_target: dict[str, list[tuple[str, Any]]] = {}
    for (target, category), score in sorted(summary.by_target_category.items()):
        by_target.setdefault(target, []).append((category, score))
    by_modality: dict[str, list[tuple[str, Any]]] = {}
    for (target, modality), score in sorted(summary.by_target_modality.items()):
        by_modality.setdefault(target, []).append((modality, score))
    if not by_target:
        out.print("no judged cases")
    # The same column widths in every target's table, so the tables line up.
    names = [c for c, _ in summary.by_target_category]
    category_width = max([len("all cases pooled")] + [len(c) for c in names])
    n_width = max([1] + [len(str(score.n)) for score in summary.by_target.values()])
    for target, rows in by_target.items():
        # Target and category names come from the config and the dataset: plain text only.
        out.print(Text.assemble("target ", inert(target, "bold")), soft_wrap=True)
        table = Table()
        table.add_column("category", overflow="fold", min_width=min(category_width, 40))
        for column, width in (("n", n_width), ("ASR", 6), ("95% CI", 8), ("SRI", 5)):
            table.add_column(column, justify="right", no_wrap=True, min_width=width)
        for category, score in rows:
            table.add_row(inert(category), *_cells(score))
        modalities = by_modality.get(target, [])
        if len(modalities) > 1:  # one modality is the pooled row again
            table.add_section()
            for modality, score in modalities:
                table.add_row(inert(f"modality {modality}", "italic"), *_cells(score))
        table.add_section()
        table.add_row(Text("all cases pooled", "bold"), *_cells(summary.by_target[target]))
        out.print(fitted(table))
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
    out.print(
        f"cases: {counts} | model calls: {summary.model_calls} made, "
        f"{summary.cached_calls} read back from the store, {summary.retries} retries | "
        f"{summary.wall_s:.1f}s"
    )
    for (target, reason), n in sorted(summary.skipped.items(), key=lambda kv: -kv[1]):
        cases = "case" if n == 1 else "cases"
        out.print(inert(f"skipped: {n} {cases} | {target} | {reason}"))
    out.print(Text.assemble("store: ", inert(summary.store)), soft_wrap=True)


def print_selection(run_config: Any, out: Console | None = None) -> None:
    """Which of the dataset's queries the run asked: all, the first ``limit`` or a sample."""
    from safebench.run.cases import count_chosen, count_queries, resolve_dataset

    root = resolve_dataset(run_config)
    every = count_queries(root, None)
    chosen = count_chosen(run_config, root)
    if run_config.sample is not None:
        line = f"queries: {chosen} of {every}, a sample of {run_config.sample.describe()}"
    elif run_config.limit is not None and chosen < every:
        line = f"queries: the first {chosen} of {every} (limit; --sample N covers every scenario)"
    else:
        line = f"queries: all {every}"
    (out or console).print(line, markup=False, highlight=False)


def _cells(score: Any) -> list[str]:
    if score.asr is None:
        return [str(score.n), "-", "-", "-" if score.sri is None else f"{score.sri:.1f}"]
    return [
        str(score.n),
        f"{100 * score.asr:.1f}%",
        f"{100 * score.asr_low:.0f}-{100 * score.asr_high:.0f}%",
        "-" if score.sri is None else f"{score.sri:.1f}",
    ]
