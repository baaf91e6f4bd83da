"""``figstep``: FigStep's question CSV (its own "SafeBench" of 10 categories).

Columns: ``dataset, category_id, task_id, category_name, question, instruction``. FigStep's
categories are not the paper's, so they are kept as they are: ``category_name`` becomes both
the query's category and its scenario (FigStep has no finer level), ``question`` its text.
``instruction``, the statement form FigStep renders into its typographic images, is kept per
query in ``statements.jsonl`` for the image step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from generation.importers.base import Candidate, ImportOptions
from generation.importers.csv_rows import CsvRow, read_csv_rows
from generation.importers.media import MediaStager, RowError
from generation.importers.registry import importer
from kernel.errors import DatasetError
from kernel.records import Query

NAME = "figstep"
DEFAULT_FILE = "safebench.csv"
"""The file read when the source is FigStep's ``data/question/`` folder."""
_REQUIRED = ("category_name", "question")


def _source_file(source: Path) -> Path:
    return source / DEFAULT_FILE if source.is_dir() else source


class FigStepImporter:
    """Reads FigStep's question CSV, keeping its 10 categories and its statement forms."""

    name = NAME
    title = "FigStep SafeBench questions (imported)"
    variants: tuple[str, ...] = ()

    def check_source(self, options: ImportOptions) -> None:
        path = _source_file(options.source)
        if not path.is_file():
            raise DatasetError(
                f"{path}: no such CSV file (figstep reads FigStep's question CSV, or a folder "
                f"holding {DEFAULT_FILE})"
            )

    def notes(self, options: ImportOptions) -> str:
        return (
            f"Imported from FigStep's question file `{_source_file(options.source).name}`. "
            "Its 10 categories are FigStep's own, not the SafeBench paper's; each is used as "
            "both category and scenario. Each query's statement form (FigStep's `instruction`, "
            "the text of its typographic image) is in `statements.jsonl`."
        )

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        path = _source_file(options.source)
        rows = iter(read_csv_rows(path))
        header_row = next(rows, None)
        if header_row is None:
            raise DatasetError(f"{path}: empty CSV file; expected a header row")
        if header_row.error is not None:
            raise DatasetError(f"{path}: line {header_row.line}: header {header_row.error}")
        header = [cell.strip().lower() for cell in header_row.cells]
        missing = [name for name in _REQUIRED if name not in header]
        if missing:
            raise DatasetError(
                f"{path}: line {header_row.line}: missing column(s) {', '.join(missing)}; "
                f"found {', '.join(header) or 'none'}"
            )
        columns = {name: index for index, name in enumerate(header)}
        for row in rows:
            cell = _cells(row, columns)
            key = "-".join(
                part for part in (cell("dataset"), cell("category_id"), cell("task_id")) if part
            )
            query_id = f"figstep-{key}" if cell("task_id") else f"figstep-line-{row.line}"
            statement = cell("instruction") or None
            yield Candidate(
                file=path,
                row=row.line,
                row_kind="line",
                query_id=query_id,
                build=self._builder(row, cell, query_id),
                statement=None if row.error else statement,
            )

    @staticmethod
    def _builder(row: CsvRow, cell: Callable[[str], str], query_id: str) -> Callable[[], Query]:
        def build() -> Query:
            if row.error is not None:
                raise RowError(row.error)
            text = cell("question")
            if not text:
                raise RowError("no question text")
            category = cell("category_name")
            if not category:
                raise RowError("no category_name")
            return Query(id=query_id, category=category, scenario=category, text=text, source=NAME)

        return build


def _cells(row: CsvRow, columns: dict[str, int]) -> Callable[[str], str]:
    def cell(name: str) -> str:
        index = columns.get(name)
        if index is None or index >= len(row.cells):
            return ""
        return row.cells[index].strip()

    return cell


@importer(NAME)
def figstep() -> FigStepImporter:
    """FigStep's question CSV (10 categories of its own, with statement forms)."""
    return FigStepImporter()
