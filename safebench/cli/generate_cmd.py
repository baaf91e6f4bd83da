"""``safebench generate``: judge agents write and score queries for every scenario of a taxonomy.

The kept queries become a dataset (``queries.jsonl``), with ``generation.json`` (every
candidate's scores, the duplicates removed, the diversity per scenario) and a dataset card.
Unless ``--no-media``, images and speech are then made for every query. Every judge call is
cached in the store, so rerunning the same command resumes and, once finished, makes no call.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    Progress,
    TaskID,
)
from rich.table import Table

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line, inert
from safebench.cli.consoles import CliConsole
from safebench.cli.progress import progress_bar
from safebench.cli.writers import writing

console = CliConsole()
errors = CliConsole(stderr=True)


class ScenarioProgress:
    """Generation's progress: scenarios done, with the judge calls made and read back."""

    def __init__(self, progress: Progress, stats: Any) -> None:
        self.progress = progress
        self.stats = stats
        self.task: TaskID | None = None

    def start(self, total: int) -> None:
        self.task = self.progress.add_task("scenarios", total=total, calls=self._calls())

    def advance(self, scenario: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=1, calls=self._calls())

    def _calls(self) -> str:
        return f"calls {self.stats.calls} made, {self.stats.cached} cached"


def generate(
    taxonomy: Annotated[Path, typer.Option(help="Taxonomy YAML (from `safebench taxonomy build`)")],
    per_scenario: Annotated[int, typer.Option(min=1, help="Queries kept per scenario")],
    judges: Annotated[Path, typer.Option(help="Judges config (YAML), e.g. examples/judges.yaml")],
    out: Annotated[Path, typer.Option(help="Dataset directory to write")],
    no_media: Annotated[
        bool, typer.Option("--no-media", help="Text only: no images, no speech")
    ] = False,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Only this scenario (repeatable)")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="Store path (default <store_dir>/<name>-generate.sqlite)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Write candidate queries, score them by other judges, keep the best N per scenario.

    Rerunning the same command resumes from the store; a finished run makes no call.
    """
    configure_logging(verbose)
    from generation.judges_config import load_judges_config
    from generation.taxonomy import load_taxonomy
    try:
        config = load_judges_config(judges)
        tax = load_taxonomy(taxonomy)
        if scenario:
            tax = _only(tax, scenario, taxonomy)
        store_path = store or config.generate_store()
        with (
            writing(store_path, folder=out),
            progress_bar(console, quiet=quiet, field="calls") as bar,
        ):
            report, card = asyncio.run(
                _generate(config, tax, taxonomy, per_scenario, out, store_path, no_media, bar)
            )
    except (SafeBenchError, ValueError) as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    _print_report(report)
    total = sum(s.kept for s in report.scenarios)
    failures = sum(len(s.failures) for s in report.scenarios)
    console.print(
        f"queries: {total} kept | judge calls: {report.model_calls} made, "
        f"{report.cached_calls} read back from the store | {failures} unusable replies"
    )
    console.print(inert(f"dataset: {out} | card: {card} | store: {store_path}"))


def _only(tax: Any, names: list[str], path: Path) -> Any:
    from generation.taxonomy import Taxonomy

    wanted = set(names)
    known = {s.name for _, s in tax.scenarios()}
    missing = sorted(wanted - known)
    if missing:
        raise SafeBenchError(f"{path}: no scenario named {', '.join(map(repr, missing))}")
    categories = [
        c.model_copy(update={"scenarios": [s for s in c.scenarios if s.name in wanted]})
        for c in tax.categories
        if any(s.name in wanted for s in c.scenarios)
    ]
    return Taxonomy(categories=categories)


async def _generate(
    config: Any,
    tax: Any,
    taxonomy_path: Path,
    per_scenario: int,
    out: Path,
    store_path: Path,
    no_media: bool,
    bar: Progress,
) -> tuple[Any, Path]:
    from generation.dataset import write_dataset
    from generation.writing import generate_queries, write_generated
    from safebench.offline.embedding import encoder
    from safebench.run.session import model_session

    async with model_session(config.gateway, store_path) as session:
        store, gateway = session.store, session.gateway
        assert store is not None
        store.open_run(
            f"{config.name}-generate",
            json.dumps(
                {
                    "command": "generate",
                    "taxonomy": str(taxonomy_path),
                    "per_scenario": per_scenario,
                    "judges": json.loads(config.public_json()),
                }
            ),
        )
        store.set_dataset_root(out)
        queries, report = await generate_queries(
            config,
            gateway,
            tax,
            per_scenario=per_scenario,
            embed=encoder().encode,
            progress=ScenarioProgress(bar, gateway.stats),
        )
        write_generated(out, queries, report)
        card = _card(out, config, report, taxonomy_path)
        if not no_media:
            # Imported here: the media step (images, speech) is its own module and only
            # needed when media are asked for. The text dataset is already written.
            try:
                from generation.media import MediaSettings, render_dataset_media
            except ImportError as exc:
                raise SafeBenchError(
                    f"the media step is not available ({exc}); the text dataset is in {out}; "
                    "rerun with --no-media"
                ) from None

            settings = MediaSettings.model_validate(config.media)
            queries = await render_dataset_media(out, queries, settings, gateway, progress=None)
            write_dataset(out, queries)
        report.model_calls = gateway.stats.calls
        report.cached_calls = gateway.stats.cached
        write_generated(out, queries, report)
        card = _card(out, config, report, taxonomy_path)
        store.set_status("done")
        return report, card


def _card(out: Path, config: Any, report: Any, taxonomy_path: Path) -> Path:
    from generation.card import write_dataset_card
    from generation.writing import diversity_notes

    return write_dataset_card(
        out,
        title=f"SafeBench generated dataset ({config.name})",
        source=(
            f"safebench generate --taxonomy {taxonomy_path} --per-scenario "
            f"{report.per_scenario} (queries' source: {report.source})"
        ),
        notes=diversity_notes(report),
    )


def _print_report(report: Any) -> None:
    table = Table(title="Generated queries per scenario")
    table.add_column("category")
    table.add_column("scenario")
    table.add_column("kept", justify="right")
    table.add_column("candidates", justify="right")
    table.add_column("duplicates", justify="right")
    table.add_column("mean score", justify="right")
    table.add_column("diversity", justify="right")
    for s in report.scenarios:
        # Names the judges wrote: plain text, never rich markup.
        table.add_row(
            inert(s.category),
            inert(s.scenario),
            str(s.kept),
            str(s.candidates),
            str(s.duplicates),
            "-" if s.mean_score is None else f"{s.mean_score:.2f}",
            "-" if s.diversity is None else f"{s.diversity:.3f}",
        )
    console.print(table)
