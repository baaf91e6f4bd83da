"""Reading a CSV row by row, with the line each row starts on and its encoding checked.

The file is decoded as UTF-8 with undecodable bytes kept as surrogates, so one bad row is
reported by its line number while the rows around it still import.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import DatasetError
from kernel.files import MAX_DATA_FILE_BYTES, read_bytes_bounded


@dataclass(frozen=True)
class CsvRow:
    """One parsed CSV row, or why it could not be read."""

    line: int
    """1-based line of the file where the row starts."""
    cells: list[str]
    error: str | None = None
    """Set when the row is not valid UTF-8 (``cells`` then holds what could be read)."""


def _has_undecodable(cell: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in cell)


def read_csv_rows(path: Path) -> Iterator[CsvRow]:
    """The rows of the CSV at ``path``, blank rows skipped.

    DatasetError names the file when it cannot be read at all. A row whose bytes are not
    UTF-8 comes with ``error`` set; where the CSV syntax breaks, a last row with ``error``
    set names the line and the rest of the file is not read.
    """
    try:
        raw = read_bytes_bounded(
            path, MAX_DATA_FILE_BYTES, what="CSV file to import", error=DatasetError
        )
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read CSV file: {exc}") from exc
    # utf-8-sig drops the byte-order mark spreadsheet programs put first.
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader cannot resync after a syntax error; the rows before it still count.
            yield CsvRow(
                line=start,
                cells=[],
                error=f"malformed CSV: {exc}; the rest of the file was not read",
            )
            return
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        bad = [i for i, cell in enumerate(cells) if _has_undecodable(cell)]
        if bad:
            yield CsvRow(
                line=line,
                cells=cells,
                error=f"not valid UTF-8 (column {bad[0] + 1}); re-save the file as UTF-8",
            )
        else:
            yield CsvRow(line=line, cells=cells)
