"""``safebench dataset import|export|card|info``: bring benchmarks in, take datasets out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import inert, visible
from safebench.cli.consoles import CliConsole

app = typer.Typer(
    name="dataset",
    help="Import published benchmarks, export datasets as Parquet, write dataset cards.",
    no_args_is_help=True,
)
console = CliConsole(soft_wrap=True)
errors = CliConsole(stderr=True, soft_wrap=True)

DirArg = Annotated[Path, typer.Argument(help="Dataset directory (holding queries.jsonl)")]
MAX_ISSUES_SHOWN = 20


def _fail(message: str) -> typer.Exit:
    errors.print(f"error: {visible(message)}", markup=False, highlight=False)
    return typer.Exit(2)


@app.command("import")
def import_(
    format: Annotated[str, typer.Argument(help="Source format (see --help for the list)")],
    source: Annotated[Path, typer.Argument(help="The benchmark's folder or file")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset directory to write")],
    categories: Annotated[
        Path | None, typer.Option(help="Category map JSON (blocks of scenario names)")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad row; write nothing")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Import at most N queries")] = None,
    title: Annotated[str | None, typer.Option(help="Title of the dataset card")] = None,
    variant: Annotated[
        str | None,
        typer.Option(help="Import one variant only (e.g. SD_TYPO)"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Import a published benchmark or a harness's log into a dataset.

    Formats: safebench-release, json-list, figstep, mm-safetybench, jailbreakv, vlguard,
    inspect-log and promptfoo-results (the last two also write the recorded answers and a
    run config that judges them without calling any model).
    """
    from generation.importers import ImportFailed, ImportOptions, get_importer, run_import
    from generation.importers.runner import ERRORS_FILE

    configure_logging(verbose)
    try:
        importer = get_importer(format)
        options = ImportOptions(
            source=source,
            out=out,
            categories=categories,
            strict=strict,
            limit=limit,
            title=title,
            variant=variant,
        )
        report = run_import(importer, options)
    except ImportFailed as exc:
        raise _fail(f"{exc}; see {out / ERRORS_FILE}") from None
    except SafeBenchError as exc:
        raise _fail(str(exc)) from None
    for issue in report.issues[:MAX_ISSUES_SHOWN]:
        errors.print(f"bad row: {visible(issue)}", markup=False, highlight=False)
    if len(report.issues) > MAX_ISSUES_SHOWN:
        errors.print(f"... and {len(report.issues) - MAX_ISSUES_SHOWN} more", highlight=False)
    console.print(
        f"imported {report.imported} queries ({report.images} images, {report.audio} speech "
        f"files) into {out} in {report.seconds:.2f} s",
        markup=False,
        highlight=False,
    )
    if report.run_config is not None:
        console.print(
            f"recorded {report.answers} answers; judge them (no model called) with: "
            f"safebench run {report.run_config}",
            markup=False,
            highlight=False,
        )
    if report.issues:
        console.print(
            f"{len(report.issues)} rows could not be imported; listed in {out / ERRORS_FILE}",
            markup=False,
            highlight=False,
        )


@app.command("export")
def export(
    directory: DirArg,
    parquet: Annotated[Path, typer.Option("--parquet", help="Output folder for the Parquet files")],
    rows_per_group: Annotated[
        int, typer.Option(min=1, help="Rows per row group (media held in memory at once)")
    ] = 256,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Export a dataset as Parquet that Hugging Face `datasets` loads (images as Image)."""
    from generation.parquet import ParquetExportConfig, export_parquet

    configure_logging(verbose)
    try:
        report = export_parquet(
            directory, parquet, ParquetExportConfig(rows_per_group=rows_per_group)
        )
    except SafeBenchError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"wrote {report.rows} rows in {report.row_groups} row groups to {report.path} "
        f"in {report.seconds:.2f} s",
        markup=False,
        highlight=False,
    )


@app.command("card")
def card(
    directory: DirArg,
    title: Annotated[str | None, typer.Option(help="Card title (default: the current one)")] = None,
    source: Annotated[str | None, typer.Option(help="Where the data came from")] = None,
    notes: Annotated[str, typer.Option(help="Free text added under Notes")] = "",
) -> None:
    """(Re)write the dataset card README.md with fresh counts."""
    from generation.card import read_card_header, write_dataset_card

    current = read_card_header(directory)
    try:
        path = write_dataset_card(
            directory,
            title=title or (current[0] if current else directory.resolve().name),
            source=source or (current[1] if current else "_Fill in: where this data came from._"),
            notes=notes,
        )
    except SafeBenchError as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {path}", markup=False, highlight=False)


@app.command("info")
def info(directory: DirArg) -> None:
    """Print a dataset's counts per category, scenario, modality and media."""
    from generation.card import count_dataset

    try:
        counts = count_dataset(directory)
    except SafeBenchError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"{visible(directory)}: {counts.queries} queries in {len(counts.categories)} categories "
        "and "
        f"{len(counts.scenarios)} scenarios; {counts.images} images; "
        f"{sum(counts.audio.values())} speech files",
        markup=False,
        highlight=False,
    )
    table = Table(title="queries per scenario")
    for column in ("category / scenario", "queries"):
        table.add_column(column)
    for name, count in sorted(counts.scenarios.items()):
        # Names come from the dataset: shown as text, never read as rich markup.
        table.add_row(inert(name), str(count))
    console.print(table)
    modalities = visible(", ".join(f"{m} {n}" for m, n in counts.modalities.items()))
    console.print(f"modalities: {modalities or 'none'}", markup=False, highlight=False)
    if counts.audio:
        voices = visible(", ".join(f"{v} {n}" for v, n in sorted(counts.audio.items())))
        console.print(f"speech per voice: {voices}", markup=False, highlight=False)
