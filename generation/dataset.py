"""Reading and writing on-disk datasets.

A dataset is a directory holding ``queries.jsonl`` (one ``Query`` JSON object per line) and
the media it references (``images/``, ``audio/``), by paths relative to that directory. Media
are checked against their sha256 when read (``kernel.media``), so a tampered or
swapped file is caught.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from kernel.errors import DatasetError
from kernel.files import atomic_write, bounded_lines
from kernel.media import check_relative, resolve_media
from kernel.records import MediaRef, Query, sha256_hex
from kernel.validation import validation_problems

QUERIES_FILE = "queries.jsonl"
"""Name of the queries file inside a dataset directory."""
IMAGES_DIR = "images"
"""Conventional folder for a dataset's images."""
AUDIO_DIR = "audio"
"""Conventional folder for a dataset's speech files."""


def queries_path(root: Path) -> Path:
    """Where the queries file of the dataset at ``root`` lives."""
    return Path(root) / QUERIES_FILE


MAX_QUERY_CHARS = 64_000
"""Longest query text a dataset may hold. Real harmful queries, jailbreak templates
included, are far shorter; a multi-megabyte "query" would be sent whole to the target and
cost every juror's context. Import and ``write_dataset`` refuse such rows, and a run records
one found in ``queries.jsonl`` as a failed case instead of sending it."""


def oversized_query(query: Query, limit: int = MAX_QUERY_CHARS) -> str | None:
    """Why ``query`` is over the dataset limit (naming it), or None when it is not."""
    if len(query.text) <= limit:
        return None
    return (
        f"query {query.id!r}: its text is {len(query.text):,} characters, over the dataset "
        f"limit of {limit:,}; it is not sent"
    )


def _media_refs(query: Query) -> Iterator[MediaRef]:
    if query.image is not None:
        yield query.image
    yield from query.audio


def write_dataset(root: Path, queries: Iterable[Query]) -> int:
    """Write ``queries`` to ``root/queries.jsonl`` atomically; return how many were written.

    The file is written beside its final name and renamed into place, so readers see the
    old file or the new one, never a half-written one. Duplicate ids and media paths that
    are absolute or leave the directory are refused before anything replaces the old file.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    target = queries_path(root)
    count = 0
    seen: dict[str, int] = {}
    with atomic_write(target) as handle:
        for query in queries:
            count += 1
            if query.id in seen:
                raise DatasetError(
                    f"{target}: query id {query.id!r} given twice "
                    f"(queries {seen[query.id]} and {count})"
                )
            seen[query.id] = count
            too_long = oversized_query(query)
            if too_long:
                raise DatasetError(f"{target}: query {count}: {too_long}")
            for ref in _media_refs(query):
                check_relative(ref.path, f"{target}: query {query.id!r}")
            handle.write(query.model_dump_json())
            handle.write("\n")
    return count


def iter_queries(root: Path) -> Iterator[Query]:
    """Yield the queries of the dataset at ``root``, one line at a time.

    Blank lines are skipped. A line that is not a valid ``Query`` raises DatasetError naming
    the file, the 1-based line number and the failing field; a repeated id raises
    DatasetError naming both lines.
    """
    path = queries_path(root)
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: no queries file; is {root} a dataset directory?") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open queries file: {exc}") from exc
    # Only ids are remembered, never rows, so memory grows with the id count alone.
    seen: dict[str, int] = {}
    with handle:
        # Binary lines, decoded one by one, so a bad byte is reported with its line number.
        # Each line read with a bound: a file with no line ends is refused, not read whole.
        for lineno, raw in enumerate(bounded_lines(handle, path, error=DatasetError), start=1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(f"{where}: not valid UTF-8: {exc}") from exc
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not valid JSON: {exc}") from exc
            try:
                query = Query.model_validate(data)
            except ValidationError as exc:
                problems = validation_problems(exc, root="<root>", item="field {where!r}: {msg}")
                raise DatasetError(f"{where}: invalid query: {problems}") from exc
            if query.id in seen:
                raise DatasetError(
                    f"{where}: duplicate query id {query.id!r}, first seen on line {seen[query.id]}"
                )
            seen[query.id] = lineno
            yield query


def media_ref_for(root: Path, path: Path, mime_type: str, voice: str | None = None) -> MediaRef:
    """A MediaRef for the file at ``path`` (absolute, or relative to ``root``).

    The file must lie inside the dataset directory; its digest is computed from its bytes.
    """
    root = Path(root)
    path = Path(path)
    full = path if path.is_absolute() else root / path
    # Lexical relative path first (keeps the name the caller chose, even through a
    # symlinked folder), then resolve_media checks where it really points.
    relative = os.path.relpath(os.path.abspath(full), os.path.abspath(root))
    relative_posix = PurePosixPath(*Path(relative).parts).as_posix()
    check_relative(relative_posix, str(root))
    probe = MediaRef(path=relative_posix, sha256="0" * 64, mime_type=mime_type, voice=voice)
    real = resolve_media(root, probe)
    try:
        data = real.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{real}: cannot read media file: {exc}") from exc
    return MediaRef(path=relative_posix, sha256=sha256_hex(data), mime_type=mime_type, voice=voice)
