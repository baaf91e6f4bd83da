"""``safebench media DATASET_DIR``: give a dataset's queries their images and speech."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    Progress,
)
from rich.table import Table

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line, labelled
from safebench.cli.consoles import CliConsole
from safebench.cli.progress import progress_bar
from safebench.cli.writers import writing

console = CliConsole()
errors = CliConsole(stderr=True)


def media(
    dataset_dir: Annotated[Path, typer.Argument(help="Dataset directory (holding queries.jsonl)")],
    no_images: Annotated[bool, typer.Option("--no-images", help="Make no images")] = False,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Make no speech")] = False,
    controls: Annotated[
        bool,
        typer.Option(
            "--controls",
            help="Also write the image-quality study's control datasets under DIR/controls/ "
            "(black, white, noise, unrelated, unrefined)",
        ),
    ] = False,
    image_model: Annotated[
        str | None,
        typer.Option(help="litellm image model, e.g. openai/gpt-image-1 (default: typographic)"),
    ] = None,
    image_api_base: Annotated[
        str | None, typer.Option(help="API base of the image model (a local server)")
    ] = None,
    describer: Annotated[
        str | None,
        typer.Option(help="Judge model writing image descriptions (default: rule-based)"),
    ] = None,
    critic: Annotated[
        str | None,
        typer.Option(help="Vision judge model criticising images (default: none, no refining)"),
    ] = None,
    tts_model: Annotated[
        str | None, typer.Option(help="litellm TTS model, e.g. openai/tts-1 (default: espeak-ng)")
    ] = None,
    refine_rounds: Annotated[
        int, typer.Option(help="Most refinements of a rejected image (paper: 3)")
    ] = 3,
    size: Annotated[int, typer.Option(help="Image width and height in pixels")] = 512,
    keep_images: Annotated[
        bool,
        typer.Option(
            "--keep-images/--replace-images",
            help="Keep images the dataset already has (imported or seed images)",
        ),
    ] = True,
    store: Annotated[
        Path | None,
        typer.Option(help="SQLite store recording the model calls (resume reuses them)"),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Queries in flight at once")] = 8,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Render each query's image and its speech in two voices, then rewrite queries.jsonl.

    Offline by default (typographic images, espeak-ng speech). Rerunning renders only what
    is missing or whose inputs changed; a query whose media fail is listed in
    media_failures.jsonl and the others are kept.
    """
    configure_logging(verbose)
    from generation.media import MediaSettings

    try:
        image_spec: dict[str, Any] | None = None
        if image_model is not None:
            image_spec = {"model": image_model, "api_base": image_api_base}
        settings = MediaSettings(
            images=not no_images,
            audio=not no_audio,
            controls=controls,
            image_model=image_spec,
            describer=describer,
            critic=critic,
            tts_model=tts_model,
            refine_rounds=refine_rounds,
            image_size=(size, size),
            keep_existing_images=keep_images,
            concurrency=concurrency,
        )
    except ValueError as exc:
        errors.print(error_line(f"invalid media settings: {exc}"))
        raise typer.Exit(2) from None
    started = time.perf_counter()
    try:
        with (
            writing(store, folder=dataset_dir),
            progress_bar(console, quiet=quiet, field="counts") as bar,
        ):
            result = asyncio.run(
                _media(
                    dataset_dir, settings, store, _MediaProgress(bar), dataset_dir.resolve().name
                )
            )
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    _print_result(result, dataset_dir, time.perf_counter() - started)
    if result.failures:
        errors.print(
            labelled(
                f"{len(result.failures)} media failed;",
                f"listed in {dataset_dir / 'media_failures.jsonl'}. "
                "Rerun the same command to retry them.",
                "yellow",
            )
        )
        raise typer.Exit(1)


class _MediaProgress:
    """The media step's progress: a step per image and per speech file, counted per medium
    in the words of the summary table ("images reused 15, speech rendered 30")."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None
        self.counts: dict[str, dict[str, int]] = {}

    def start(self, total: int, already_done: int) -> None:
        self.task = self.progress.add_task("media", total=total, completed=already_done, counts="")

    def advance(self, status: str) -> None:
        medium, _, outcome = status.partition(" ")
        by_outcome = self.counts.setdefault(medium, {})
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        if self.task is not None:
            self.progress.update(self.task, advance=1, counts=self.describe())

    def describe(self) -> str:
        return "; ".join(
            f"{medium} " + ", ".join(f"{outcome} {n}" for outcome, n in outcomes.items())
            for medium, outcomes in self.counts.items()
        )


async def _media(
    dataset_dir: Path, settings: Any, store_path: Path | None, progress: Any, run_name: str
) -> Any:
    from generation.dataset import iter_queries, write_dataset
    from generation.media import render_media
    from safebench.run.session import model_session

    queries = list(iter_queries(dataset_dir))
    async with model_session(None, store_path) as session:
        store, gateway = session.store, session.gateway
        if store is not None:
            store.open_run(
                f"media-{run_name}",
                settings.model_dump_json(exclude={"speech_processes", "concurrency"}),
            )
            store.set_dataset_root(dataset_dir)
        result = await render_media(dataset_dir, queries, settings, gateway, progress)
        # Written even when some media failed: every finished file is referenced.
        write_dataset(dataset_dir, result.queries)
        if store is not None:
            store.set_status("done")
        return result


def _print_result(result: Any, dataset_dir: Path, wall_s: float) -> None:
    table = Table(title=f"Media of {dataset_dir}")
    table.add_column("medium")
    table.add_column("rendered", justify="right")
    table.add_column("reused", justify="right")
    table.add_column("kept", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("seconds", justify="right")
    image_failures = sum(1 for f in result.failures if f.medium == "image")
    table.add_row(
        "images",
        str(result.images_rendered),
        str(result.images_reused),
        str(result.images_kept),
        str(image_failures),
        f"{result.image_seconds:.1f}",
    )
    table.add_row(
        "speech files",
        str(result.audio_rendered),
        str(result.audio_reused),
        "-",
        str(len(result.failures) - image_failures),
        f"{result.audio_seconds:.1f}",
    )
    console.print(table)
    with_image = sum(1 for q in result.queries if q.image is not None)
    with_audio = sum(1 for q in result.queries if q.audio)
    console.print(
        f"{len(result.queries)} queries: {with_image} with an image, {with_audio} with speech; "
        f"{result.refinements} refinements; {result.controls_written} control images written; "
        f"{wall_s:.1f}s in all"
    )
