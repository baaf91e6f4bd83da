"""Running an importer: keep the good rows, report the bad ones, write all or nothing.

Queries stream from the importer into ``write_dataset`` inside a staging folder; media are
staged beside them. Only when every row has been seen (or, with ``strict``, none was bad)
are the staged files moved into the dataset directory, ``queries.jsonl`` last. Bad rows are
listed in ``import-errors.jsonl`` and in the returned report.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import structlog
from pydantic import ValidationError

from generation.card import write_dataset_card
from generation.dataset import oversized_query, write_dataset
from generation.importers.base import (
    Candidate,
    Importer,
    ImportFailed,
    ImportIssue,
    ImportOptions,
    ImportReport,
)
from generation.importers.media import MediaStager
from generation.importers.recorded import (
    ANSWERS_FILE,
    RUN_CONFIG_FILE,
    RecordedAnswer,
    run_config,
)
from kernel.errors import DatasetError
from kernel.files import atomic_write
from kernel.records import Query
from kernel.validation import validation_problems

log = structlog.get_logger(__name__)

ERRORS_FILE = "import-errors.jsonl"
"""Where an import lists its bad rows, one ``ImportIssue`` per line, inside the dataset."""
STATEMENTS_FILE = "statements.jsonl"
"""Where an import keeps each query's statement form (``{"id", "statement"}`` per line), for
the typographic-image step, when its source has one (FigStep's ``instruction``)."""


def _write_lines(path: Path, lines: Iterator[str]) -> None:
    with atomic_write(path) as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")


def _issue(candidate: Candidate, message: str) -> ImportIssue:
    return ImportIssue(
        file=str(candidate.file),
        row=candidate.row,
        row_kind=candidate.row_kind,
        message=message,
    )


def run_import(importer: Importer, options: ImportOptions) -> ImportReport:
    """Import ``options.source`` with ``importer`` into ``options.out``; return the report.

    Raises DatasetError when the source is unusable (nothing is written) and ImportFailed
    when ``strict`` and a row is bad (nothing but ``import-errors.jsonl`` is written).
    """
    started = time.perf_counter()
    if options.variant is not None and options.variant not in importer.variants:
        known = ", ".join(importer.variants) if importer.variants else "none: it has no variants"
        raise DatasetError(
            f"{importer.name}: unknown variant {options.variant!r} (its variants: {known})"
        )
    importer.check_source(options)
    report = ImportReport(format=importer.name, source=str(options.source), out=str(options.out))
    created = not Path(options.out).exists()
    stager = MediaStager(options.out)
    statements: list[tuple[str, str]] = []
    answers: list[RecordedAnswer] = []
    seen: dict[str, str] = {}
    """Each kept id -> where it came from; only ids are kept, never rows."""

    def accepted() -> Iterator[Query]:
        for candidate in importer.candidates(options, stager):
            if options.limit is not None and report.imported >= options.limit:
                return
            message: str | None = None
            query: Query | None = None
            first = seen.get(candidate.query_id)
            if first is not None:
                message = f"query id {candidate.query_id!r} already used by {first}"
            else:
                stager.begin_row()
                try:
                    query = candidate.build()
                    too_long = oversized_query(query)
                    if too_long:  # refused like any bad row; the import goes on
                        query = None
                        raise DatasetError(too_long)
                except DatasetError as exc:
                    stager.discard_row()
                    message = str(exc)
                except ValidationError as exc:
                    stager.discard_row()
                    message = "invalid query: " + validation_problems(exc, root="")
            if query is None:
                issue = _issue(candidate, message or "row could not be imported")
                report.issues.append(issue)
                # The CLI prints the issues; the log repeats them only with --verbose.
                log.info("import.row_refused", issue=str(issue))
                if options.strict:
                    raise ImportFailed(issue)
                continue
            stager.keep_row()
            seen[candidate.query_id] = f"{candidate.file}: {candidate.row_kind} {candidate.row}"
            if candidate.statement:
                statements.append((query.id, candidate.statement))
            # The model saw the image when the query has one: its answer is an image case's.
            modality = "image" if query.image is not None else "text"
            answers.extend(
                RecordedAnswer(
                    target=out.target,
                    query_id=query.id,
                    modality=modality,
                    answer=out.answer,
                    finish_reason=out.finish_reason,
                )
                for out in candidate.answers
            )
            report.imported += 1
            yield query

    errors_path = Path(options.out) / ERRORS_FILE
    try:
        write_dataset(stager.staging, accepted())
        if report.imported == 0:
            # An empty dataset is no import: a wrong file, column or variant, said as such.
            failed = f"; {len(report.issues)} rows could not be" if report.issues else ""
            raise DatasetError(f"{options.source}: no query was imported{failed}")
        if statements:
            _write_lines(
                stager.staging / STATEMENTS_FILE,
                (json.dumps({"id": i, "statement": s}, ensure_ascii=False) for i, s in statements),
            )
        if answers:
            _write_lines(stager.staging / ANSWERS_FILE, (a.model_dump_json() for a in answers))
            config = run_config(importer.name, options.out, answers, source=str(options.source))
            with atomic_write(stager.staging / RUN_CONFIG_FILE) as handle:
                handle.write(config)
    except BaseException:
        stager.cleanup()
        if report.issues:
            _write_lines(errors_path, (issue.model_dump_json() for issue in report.issues))
        elif created:
            # A fault before any row (a bad map, an unreadable file) leaves no empty folder.
            with contextlib.suppress(OSError):
                Path(options.out).rmdir()
        raise
    stager.commit()
    if not statements:
        (Path(options.out) / STATEMENTS_FILE).unlink(missing_ok=True)
    if answers:
        report.answers = len(answers)
        report.run_config = str(Path(options.out) / RUN_CONFIG_FILE)
    else:
        # Answers of an earlier import into the same folder would no longer match its queries.
        for stale in (ANSWERS_FILE, RUN_CONFIG_FILE):
            (Path(options.out) / stale).unlink(missing_ok=True)
    report.images, report.audio = stager.images, stager.audio
    if report.issues:
        _write_lines(errors_path, (issue.model_dump_json() for issue in report.issues))
    else:
        # A clean re-import must not leave an earlier run's errors lying beside it.
        errors_path.unlink(missing_ok=True)
    notes = importer.notes(options)
    if report.issues:
        notes += (
            f"\n\n{len(report.issues)} source rows could not be imported; "
            f"they are listed in `{ERRORS_FILE}`."
        )
    write_dataset_card(
        options.out,
        title=options.title or importer.title,
        source=f"`safebench dataset import {importer.name} {options.source}`",
        notes=notes,
    )
    report.seconds = time.perf_counter() - started
    log.info(
        "import.done",
        format=importer.name,
        imported=report.imported,
        issues=len(report.issues),
        seconds=round(report.seconds, 3),
    )
    return report
