"""``safebench taxonomy build|show``: judges debate a risk taxonomy; replay a debate's record.

``build`` holds the debate (proposals, critique rounds, votes) with every call cached in the
store, so a killed build rerun with the same store resumes without repeating a call, and
writes the kept taxonomy (with supporters and vote counts) as YAML. ``show`` replays the
debate from the store alone (no model is called) and prints its transcript.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line, inert
from safebench.cli.consoles import CliConsole
from safebench.cli.progress import progress_bar
from safebench.cli.writers import writing

app = typer.Typer(
    help="Risk taxonomies: build one by a debate among judge agents, show a debate.",
    no_args_is_help=True,
)
console = CliConsole()
errors = CliConsole(stderr=True)

SeedName = Literal["paper", "none"]
RECORD_KIND = "taxonomy build"


class _Bar:
    """The debate's progress: one bar per phase (proposals, critiques, votes)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, name: str, total: int) -> None:
        if self.task is not None:
            self.progress.stop_task(self.task)
        self.task = self.progress.add_task(name, total=total)

    def advance(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=1)


@app.command("build")
def build(
    judges: Annotated[Path, typer.Option(help="Judges config (YAML), e.g. examples/judges.yaml")],
    out: Annotated[Path, typer.Option(help="Where to write the taxonomy")] = Path("taxonomy.yaml"),
    seed_taxonomy: Annotated[
        str, typer.Option(help="Taxonomy the judges start from: paper (8 x 23) or none")
    ] = "paper",
    store: Annotated[
        Path | None,
        typer.Option(help="Store path (default <store_dir>/<name>-taxonomy.sqlite)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Let the judges propose, critique, merge and vote; write the kept taxonomy as YAML.

    Rerunning with the same store resumes: recorded calls are read back, not repeated.
    """
    configure_logging(verbose)
    if seed_taxonomy not in ("paper", "none"):
        errors.print("[red]error:[/red] --seed-taxonomy must be 'paper' or 'none'")
        raise typer.Exit(2)
    from generation.judges_config import load_judges_config
    try:
        config = load_judges_config(judges)
        store_path = store or config.taxonomy_store()
        with writing(store_path), progress_bar(console, quiet=quiet) as bar:
            result, stats = asyncio.run(
                _debate(config, store_path, seed_taxonomy, _Bar(bar), record=True)  # type: ignore[arg-type]
            )
        taxonomy = result.taxonomy.model_copy(
            update={"provenance": _provenance(config, seed_taxonomy, store_path, result)}
        )
        from generation.taxonomy import dump_taxonomy

        dump_taxonomy(taxonomy, out)
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    _print_taxonomy(taxonomy, result.dropped)
    console.print(
        f"judge calls: {stats.calls} made, {stats.cached} read back from the store; "
        f"{result.failures} unusable replies (see `safebench taxonomy show {store_path}`)"
    )
    console.print(inert(f"taxonomy: {out} | store: {store_path}"))


@app.command("show")
def show(
    store: Annotated[Path, typer.Argument(help="The store of a taxonomy build")],
    as_json: Annotated[bool, typer.Option("--json", help="Events as JSON lines")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Print a debate's transcript (proposals, merges, critiques, votes, outcomes).

    The transcript is replayed from the store's recorded calls; no model is called.
    """
    configure_logging(verbose)
    from pydantic import BaseModel

    from generation.judges_config import JudgesConfig
    from kernel.errors import StoreError
    from transcripts.store import RunStore

    try:
        if not store.exists():
            raise SafeBenchError(f"{store}: no such store")
        # Read-only: a file that is not a store is refused before the debate opens it.
        with RunStore.open_readonly(store) as opened:
            record = opened.run_record()

        class TaxonomyRecord(BaseModel):
            """What ``build`` records as its store's config."""

            command: Literal["taxonomy build"]  # RECORD_KIND
            seed_taxonomy: SeedName
            judges: JudgesConfig  # the recorded judges config is checked again

        try:
            recorded = record.config_as(TaxonomyRecord)
        except StoreError as exc:
            raise SafeBenchError(f"{store} is not the store of a taxonomy build: {exc}") from None
        result, _ = asyncio.run(
            _debate(recorded.judges, store, recorded.seed_taxonomy, None, record=False)
        )
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    if as_json:
        for event in result.transcript.events:
            typer.echo(event.model_dump_json())
        return
    for event in result.transcript.events:
        console.print(inert(_describe(event)))


async def _debate(
    config: Any, store_path: Path, seed_name: str, progress: Any, *, record: bool
) -> tuple[Any, Any]:
    """Run (record=True) or replay from the store only (record=False) the debate."""
    from agents.spec import ModelSpec
    from generation.debate import run_debate
    from generation.taxonomy import PAPER_TAXONOMY
    from kernel.errors import StoreError
    from safebench.offline.embedding import encoder
    from safebench.run.session import model_session

    async def store_only(spec: ModelSpec) -> Any:
        raise StoreError(
            f"{store_path}: the debate's call to {spec.model} is not in the store; "
            "the build did not finish (rerun `safebench taxonomy build` to resume it)"
        )

    # A replay routes every call to ``store_only``: what the store lacks is an error, never
    # a model call.
    resolve = None if record else store_only
    async with model_session(config.gateway, store_path, resolve=resolve) as session:
        store, gateway = session.store, session.gateway
        assert store is not None
        if record:
            store.open_run(
                f"{config.name}-taxonomy",
                json.dumps(
                    {
                        "command": RECORD_KIND,
                        "seed_taxonomy": seed_name,
                        "judges": json.loads(config.public_json()),
                    }
                ),
            )
        result = await run_debate(
            config,
            gateway,
            seed=PAPER_TAXONOMY if seed_name == "paper" else None,
            embed=encoder().encode,
            progress=progress,
        )
        if record:
            store.set_status("done")
        return result, gateway.stats


def _provenance(config: Any, seed_name: str, store_path: Path, result: Any) -> dict[str, Any]:
    return {
        "method": "debate among judge agents (safebench taxonomy build)",
        "judges": [{"name": j.name, "model": j.model} for j in config.judges],
        "seed_taxonomy": seed_name,
        "debate_rounds": config.debate_rounds,
        "vote_threshold": config.vote_threshold,
        "merge_similarity": config.merge_similarity,
        "store": str(store_path),
        "unusable_replies": result.failures,
        "dropped": [
            {
                "category": o.category,
                "scenario": o.scenario,
                "keep": o.votes.keep,
                "drop": o.votes.drop,
                "abstain": o.votes.abstain,
            }
            for o in result.dropped
        ],
    }


def _print_taxonomy(taxonomy: Any, dropped: list[Any]) -> None:
    table = Table(title="Taxonomy kept by the judges' vote")
    table.add_column("category")
    table.add_column("scenario")
    table.add_column("supporters")
    table.add_column("keep/drop", justify="right")
    table.add_column("merged from")
    for category, scenario in taxonomy.scenarios():
        votes = scenario.votes
        # Names the judges wrote: plain text, never rich markup.
        table.add_row(
            inert(category.name),
            inert(scenario.name),
            inert(", ".join(scenario.supporters or [])),
            "-" if votes is None else f"{votes.keep}/{votes.drop}",
            inert(", ".join(scenario.merged_from or [])),
        )
    console.print(table)
    if dropped:
        lost = ", ".join(f"{o.scenario} ({o.votes.keep}/{o.votes.drop})" for o in dropped)
        console.print(inert(f"voted down: {lost}"))


def _describe(event: Any) -> str:
    kind = event.type
    if kind == "taxonomy_proposal":
        if event.proposal is None:
            return f"[proposal] {event.judge}: FAILED after {event.attempts} tries: {event.error}"
        names = [s.name for c in event.proposal.categories for s in c.scenarios]
        return (
            f"[proposal] {event.judge} ({event.attempts} tries): "
            f"{len(event.proposal.categories)} categories, {len(names)} scenarios: "
            + ", ".join(names)
        )
    if kind == "taxonomy_merge":
        return f"[merge {event.stage}] {event.into} <- {', '.join(event.merged)} ({event.reason})"
    if kind == "taxonomy_critique":
        if event.critique is None:
            return f"[critique {event.round}] {event.judge}: FAILED: {event.error}"
        merges = "; ".join(f"{m.keep} absorbs {', '.join(m.absorb)}" for m in event.critique.merges)
        return f"[critique {event.round}] {event.judge}: {merges or 'no merge'}"
    if kind == "taxonomy_ballot":
        if event.ballot is None:
            return f"[ballot] {event.judge}: FAILED: {event.error}"
        drops = [v.id for v in event.ballot.votes if not v.keep]
        return (
            f"[ballot] {event.judge}: {len(event.ballot.votes)} votes, "
            f"drop {', '.join(drops) or 'none'}"
        )
    verdict = "kept" if event.kept else "dropped"
    return (
        f"[outcome] {event.category} / {event.scenario}: {verdict} "
        f"(keep {event.votes.keep}, drop {event.votes.drop}, abstain {event.votes.abstain})"
    )
