"""Files written whole or not at all, and files read back by digest.

Every file SafeBench writes for others to read (datasets, cards, media, exports, markers) goes
through ``atomic_write``, so a reader, or a run killed mid-write, never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

from kernel.errors import ConfigError, SafeBenchError

MAX_TEXT_FILE_BYTES = 16 << 20
"""Most bytes a config, spec, jury, template or taxonomy file may hold (16 MiB). The largest
real ones hold a few hundred KiB; ``/dev/zero`` or a mistyped path to a model file must be
refused after reading this much, not read until the kernel kills the process."""

MAX_LINE_BYTES = 16 << 20
"""Most bytes one line of a line-by-line file (a dataset's queries.jsonl, a label CSV) may
hold. A query over the prompt limit is still read, so its case can fail naming it; a file
with no line ends (``/dev/zero``) is refused here."""

MAX_DATA_FILE_BYTES = 1 << 30
"""Most bytes of a data file read whole (a labelled set in JSON, a file to import): 1 GiB,
far above any real one, far below what ``/dev/zero`` would take."""


def default_permissions(path: Path) -> None:
    """Give ``path`` the permissions a plain new file gets (``0o666`` less the umask).

    ``mkstemp`` makes its file owner-only; a dataset or report is meant to be shared like
    any file its user writes.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@overload
def atomic_write(
    path: Path, mode: Literal["w"] = "w", *, make_parents: bool = False
) -> AbstractContextManager[TextIO]: ...


@overload
def atomic_write(
    path: Path, mode: Literal["wb"], *, make_parents: bool = False
) -> AbstractContextManager[BinaryIO]: ...


def atomic_write(
    path: Path, mode: Literal["w", "wb"] = "w", *, make_parents: bool = False
) -> AbstractContextManager[IO[Any]]:
    """A handle on a temporary file beside ``path`` that becomes ``path`` when the block ends.

    What it guarantees: readers of ``path`` see the old file or the whole new one, never
    a part; the new bytes are flushed and fsync'ed before the rename (``os.replace``, atomic
    on one file system, which a temporary file in the same directory is on), so a crash
    right after cannot leave an empty file in its place. If the block raises, ``path`` is
    untouched and the temporary file removed. Text is UTF-8 with ``\\n`` line ends.

    Mode bits: the new file gets the permissions of a plain new file (``0o666`` less the
    umask, see ``default_permissions``), not the owner-only ones of ``mkstemp``, and not
    those of the file it replaces. ``make_parents`` creates missing parent directories.
    """
    return _atomic_write(Path(path), binary=mode == "wb", make_parents=make_parents)


@contextmanager
def _atomic_write(path: Path, *, binary: bool, make_parents: bool) -> Iterator[IO[Any]]:
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        handle: IO[Any] = (
            os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        )
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        default_permissions(Path(tmp_name))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, make_parents: bool = False) -> None:
    """Write ``data`` to ``path`` through ``atomic_write``."""
    with atomic_write(path, "wb", make_parents=make_parents) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str, *, make_parents: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``atomic_write``."""
    with atomic_write(path, make_parents=make_parents) as handle:
        handle.write(text)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _too_large(path: Path, limit: int, what: str) -> str:
    return (
        f"{path}: refused: the {what} is over {limit:,} bytes (the most SafeBench reads); "
        "is this the right file?"
    )


def read_bytes_bounded(
    path: Path,
    limit: int = MAX_TEXT_FILE_BYTES,
    *,
    what: str = "file",
    error: type[SafeBenchError] = ConfigError,
) -> bytes:
    """The bytes of ``path``, refused (``error`` naming the file and the limit) past
    ``limit``. At most ``limit + 1`` bytes are read, so a device or a FIFO that never ends
    costs no more than that. ``OSError`` (a missing file included) propagates."""
    with Path(path).open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise error(_too_large(Path(path), limit, what))
    return data


def read_text_bounded(
    path: Path,
    limit: int = MAX_TEXT_FILE_BYTES,
    *,
    what: str = "file",
    error: type[SafeBenchError] = ConfigError,
) -> str:
    """``read_bytes_bounded`` decoded as UTF-8 (``UnicodeDecodeError`` propagates)."""
    return read_bytes_bounded(path, limit, what=what, error=error).decode("utf-8")


def bounded_lines(
    handle: IO[Any],
    path: Path,
    limit: int = MAX_LINE_BYTES,
    *,
    error: type[SafeBenchError] = ConfigError,
) -> Iterator[Any]:
    """The lines of an open file (text or binary), each read with at most ``limit + 1``
    bytes or characters; a longer line is ``error`` naming the file, line and limit, so a file
    without line ends is never read whole."""
    lineno = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line) > limit:
            raise error(
                f"{path}:{lineno}: refused: a line over {limit:,} bytes (the most SafeBench "
                "reads in one line); is this the right file?"
            )
        yield line
