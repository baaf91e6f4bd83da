"""What every importer shares: its options, the rows it proposes, the issues it reports.

An importer reads a published benchmark and proposes one ``Candidate`` per row: where the row
came from, the id it will get, and a function that builds its ``Query`` (copying its media
through the ``MediaStager``). The runner (``generation.importers.runner``) decides what to
keep; a row that cannot be built becomes an ``ImportIssue`` naming its file and row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from generation.importers.media import MediaStager, RowError
from kernel.errors import DatasetError
from kernel.records import Query

RowKind = Literal["line", "item", "file"]
"""How an issue's ``row`` counts: a 1-based line of a text file, a 0-based item of a JSON
list, or the file as a whole (row 0)."""


class ImportOptions(BaseModel):
    """What ``safebench dataset import`` was asked to do."""

    model_config = ConfigDict(extra="forbid")

    source: Path
    """The published benchmark: a folder or a file, as the importer expects."""
    out: Path
    """The dataset directory to write (``queries.jsonl``, ``images/``, ``audio/``, card)."""
    categories: Path | None = None
    """A category map (JSON ``{"blocks": [{"start", "scenario", "category"}]}``): for
    ``json-list`` it names the scenario of each block of items; for ``safebench-release`` the
    k-th block names the scenario of ``text/{k}.csv``."""
    strict: bool = False
    """Stop at the first bad row (nothing is written) instead of reporting all at the end."""
    limit: int | None = Field(None, ge=1)
    """Import at most this many queries (bad rows do not count)."""
    title: str | None = None
    """Title of the dataset card; the importer's own title when not given."""
    variant: str | None = None
    """Which of the source's variants to import (MM-SafetyBench's ``SD``, ``TYPO`` or
    ``SD_TYPO`` images, ...), as the importer's ``variants`` name them; None: all of them."""


class ImportIssue(BaseModel):
    """One row (or file) that could not be imported, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["import_issue"] = "import_issue"
    file: str
    """The source file holding the bad row."""
    row: int
    """Where in the file, counted as ``row_kind`` says."""
    row_kind: RowKind
    """``line`` (1-based line of a CSV), ``item`` (0-based index of a JSON list) or ``file``."""
    message: str
    """What was wrong."""

    def __str__(self) -> str:
        where = self.file if self.row_kind == "file" else f"{self.file}: {self.row_kind} {self.row}"
        return f"{where}: {self.message}"


class ImportFailed(DatasetError):
    """A ``--strict`` import met a bad row; nothing was written."""

    def __init__(self, issue: ImportIssue):
        super().__init__(f"{issue} (strict import: nothing was written)")
        self.issue = issue


@dataclass(frozen=True)
class RecordedOutput:
    """What one model answered to a row, as a log of another harness recorded it."""

    target: str
    """The model that answered (the log's model name): a replay target of that name."""
    answer: str
    """Its answer, exactly as recorded."""
    finish_reason: str | None = None
    """Why the answer ended, in the gateway's terms, where the harness recorded it:
    ``length`` (cut by the token limit: judged, marked truncated), ``content_filter`` (the
    provider refused: judged as a refusal, even with no text), ``stop``; None: not recorded."""


@dataclass(frozen=True)
class Candidate:
    """One row an importer proposes: its origin, its id and how to build its query."""

    file: Path
    """The source file the row comes from."""
    row: int
    """Its position in that file, counted as ``row_kind`` says."""
    row_kind: RowKind
    query_id: str
    """The id its query will get (known before building, so duplicates are caught first)."""
    build: Callable[[], Query]
    """Builds the query, staging its media; raises RowError (or DatasetError) on bad input."""
    statement: str | None = None
    """The row's harmful statement form (FigStep's ``instruction``), for typographic images."""
    answers: tuple[RecordedOutput, ...] = ()
    """Answers already recorded for the row (a harness's log): written, with the query, as
    replay answers and a run config that judges them without asking any model."""

    @classmethod
    def failed(cls, file: Path, row: int, row_kind: RowKind, query_id: str, why: str) -> Candidate:
        """A row already known to be bad: building it raises RowError with ``why``."""

        def build() -> Query:
            raise RowError(why)

        return cls(file=file, row=row, row_kind=row_kind, query_id=query_id, build=build)


class Importer(Protocol):
    """A reader of one published format."""

    name: str
    """The format name the CLI takes (``safebench dataset import NAME``)."""
    title: str
    """Default title of the dataset card."""
    variants: tuple[str, ...]
    """The names ``--variant`` may take (empty: the format has no variants)."""

    def check_source(self, options: ImportOptions) -> None:
        """Raise DatasetError (naming the path and what was expected) if the source is unusable."""
        ...

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        """The rows of the source, in order; DatasetError for a fault that stops the import."""
        ...

    def notes(self, options: ImportOptions) -> str:
        """What the dataset card should say about this import (mappings, assumptions)."""
        ...


class ImportReport(BaseModel):
    """What an import did."""

    model_config = ConfigDict(extra="forbid")

    format: str
    """The importer's name."""
    source: str
    """The source path as given."""
    out: str
    """The dataset directory written."""
    imported: int = 0
    """Queries written to ``queries.jsonl``."""
    issues: list[ImportIssue] = Field(default_factory=list)
    """Rows that could not be imported (also in ``import-errors.jsonl``)."""
    images: int = 0
    """Image files copied."""
    audio: int = 0
    """Speech files copied."""
    answers: int = 0
    """Recorded answers written to ``answers.jsonl`` (imports of harness logs)."""
    run_config: str | None = None
    """The run config written beside them (judges the answers with no target call)."""
    seconds: float = 0.0
    """Wall-clock time of the import."""
