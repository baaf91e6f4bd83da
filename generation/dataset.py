"""Reading and writing on-disk datasets.

A dataset is a directory holding ``queries.jsonl`` (one ``Query`` JSON object per line) and
the media it references (``images/``, ``audio/``), by paths relative to that directory. Media
are checked against their sha256 when read, so a tampered or swapped file is caught.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError

from safebench.core.errors import DatasetError
from safebench.core.records import MediaRef, Query, sha256_hex

QUERIES_FILE = "queries.jsonl"
"""Name of the queries file inside a dataset directory."""
IMAGES_DIR = "images"
"""Conventional folder for a dataset's images."""
AUDIO_DIR = "audio"
"""Conventional folder for a dataset's speech files."""


def queries_path(root: Path) -> Path:
    """Where the queries file of the dataset at ``root`` lives."""
    return Path(root) / QUERIES_FILE


def _is_absolute(path: str) -> bool:
    # A dataset written on one OS may be read on another, so reject both spellings.
    return PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute()


def _lexically_escapes(path: str) -> bool:
    """True when ``path`` climbs above its starting directory using ``..`` alone."""
    depth = 0
    for part in PurePosixPath(path.replace("\\", "/")).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _check_relative(path: str, where: str) -> None:
    if _is_absolute(path):
        raise DatasetError(f"{where}: media path {path!r} is absolute; it must be relative")
    if _lexically_escapes(path):
        raise DatasetError(f"{where}: media path {path!r} leaves the dataset directory")


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
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{QUERIES_FILE}.", suffix=".tmp")
    # mkstemp makes the file owner-only; a dataset is meant to be shared like any file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    count = 0
    seen: dict[str, int] = {}
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
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
                    _check_relative(ref.path, f"{target}: query {query.id!r}")
                handle.write(query.model_dump_json())
                handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count


def _describe_validation_error(error: ValidationError) -> str:
    parts = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"]) or "<root>"
        parts.append(f"field {field!r}: {detail['msg']}")
    return "; ".join(parts)


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
        for lineno, raw in enumerate(handle, start=1):
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
                raise DatasetError(
                    f"{where}: invalid query: {_describe_validation_error(exc)}"
                ) from exc
            if query.id in seen:
                raise DatasetError(
                    f"{where}: duplicate query id {query.id!r}, first seen on line {seen[query.id]}"
                )
            seen[query.id] = lineno
            yield query


def resolve_media(root: Path, ref: MediaRef) -> Path:
    """The real path of ``ref``'s file, which must exist inside the dataset directory.

    Absolute paths, ``..`` escapes and symlinks resolving outside the directory are all
    refused, so a dataset cannot make SafeBench read (or upload) arbitrary files.
    """
    root = Path(root)
    _check_relative(ref.path, str(root))
    real_root = root.resolve()
    candidate = (real_root / ref.path).resolve()
    if not candidate.is_relative_to(real_root):
        raise DatasetError(
            f"{root}: media path {ref.path!r} resolves to {candidate}, "
            f"outside the dataset directory"
        )
    if not candidate.exists():
        raise DatasetError(f"{root}: media file {ref.path!r} not found ({candidate})")
    if not candidate.is_file():
        raise DatasetError(f"{root}: media path {ref.path!r} is not a regular file")
    return candidate


def read_media(root: Path, ref: MediaRef) -> bytes:
    """The bytes of ``ref``'s file, after checking them against its recorded sha256."""
    path = resolve_media(root, ref)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read media file: {exc}") from exc
    actual = sha256_hex(data)
    if actual != ref.sha256:
        raise DatasetError(
            f"{path}: sha256 mismatch for media {ref.path!r}: "
            f"expected {ref.sha256}, actual {actual}"
        )
    return data


MAX_IMAGE_PIXELS = 8000 * 8000
"""Largest image (width x height) sent to a model. The biggest that major providers take is
about this (8000 px a side); a larger one is refused before it is read whole or sent, since
decoding or base64-encoding a decompression bomb would cost the run its memory."""


def read_image(root: Path, ref: MediaRef, max_pixels: int = MAX_IMAGE_PIXELS) -> bytes:
    """The bytes of an image ``ref`` names, once checked: digest, readable, not too large.

    Only the image's header is parsed for its size and its chunks verified; nothing is
    decoded to pixels, so a 100-megapixel file costs no more memory than its bytes.
    """
    data = read_media(root, ref)
    where = f"{root}: image {ref.path!r}"
    try:
        with warnings.catch_warnings():
            # Pillow warns (then raises) about decompression bombs; the check below is ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DatasetError(
                        f"{where} is {width}x{height} ({width * height / 1e6:.1f} megapixels), "
                        f"over the {max_pixels / 1e6:.0f}-megapixel limit; downscale it in the "
                        "dataset"
                    )
                image.verify()
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{where} is too large to open safely: {exc}") from exc
    except UnidentifiedImageError:
        # Pillow's own message names an in-memory buffer (<_io.BytesIO object at 0x…>).
        raise DatasetError(f"{where} is not an image (no image format recognised)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{where} is not a readable image: {exc}") from exc
    return data


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
    _check_relative(relative_posix, str(root))
    probe = MediaRef(path=relative_posix, sha256="0" * 64, mime_type=mime_type, voice=voice)
    real = resolve_media(root, probe)
    try:
        data = real.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{real}: cannot read media file: {exc}") from exc
    return MediaRef(path=relative_posix, sha256=sha256_hex(data), mime_type=mime_type, voice=voice)
