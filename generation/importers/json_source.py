"""Reading one JSON file of a benchmark, bounded, with errors that name it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kernel.errors import DatasetError
from kernel.files import MAX_DATA_FILE_BYTES, read_bytes_bounded


def read_json_file(path: Path, what: str) -> Any:
    """The parsed JSON at ``path``; DatasetError naming the file (and line) otherwise."""
    try:
        raw = read_bytes_bounded(path, MAX_DATA_FILE_BYTES, what=what, error=DatasetError)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read {what}: {exc}") from exc
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not valid UTF-8 (byte {exc.start}); re-save as UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
