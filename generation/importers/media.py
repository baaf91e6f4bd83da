"""Copying an import's media: checked, staged beside the dataset, moved in only at the end.

Every file is read from inside the source folder (``..`` and symlinks pointing out are
refused), verified (Pillow for images, the stdlib ``wave`` module for speech) and written
into a hidden staging folder inside the dataset directory. Only when the whole import has
succeeded are the staged files renamed into place, so a failed import leaves no media behind
that no ``queries.jsonl`` refers to.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import wave
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from generation.dataset import AUDIO_DIR, IMAGES_DIR, QUERIES_FILE
from kernel.errors import DatasetError
from kernel.files import default_permissions
from kernel.records import MediaRef, sha256_hex

_IMAGE_TYPES: dict[str, tuple[str, str]] = {
    "PNG": ("image/png", ".png"),
    "JPEG": ("image/jpeg", ".jpg"),
}
"""Image formats an import accepts: Pillow format name -> (MIME type, file extension)."""

class RowError(DatasetError):
    """A row of the source cannot be imported; raised inside ``Candidate.build`` (and by the
    media checks here, the lowest module of the importers, so that every module can)."""


STAGING_PREFIX = ".import-"
"""Name prefix of the staging folder inside the dataset directory."""


def _safe_name(query_id: str) -> str:
    # Ids become file names; keep them to characters every filesystem takes.
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in query_id).lstrip(".")


def source_file(source_root: Path, path: str | Path) -> Path:
    """The real path of ``path`` (relative to ``source_root``), refusing any way out of it.

    Raises RowError for an absolute path, a ``..`` that climbs out, a symlink resolving
    outside, a missing file or one that is not a regular file.
    """
    text = str(path)
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise RowError(f"media path {text!r} is absolute; it must be relative to {source_root}")
    depth = 0
    for part in pure.parts:
        depth = depth - 1 if part == ".." else depth + (part not in ("", "."))
        if depth < 0:
            raise RowError(f"media path {text!r} leaves the source directory {source_root}")
    real_root = source_root.resolve()
    candidate = (source_root / pure).resolve()
    if not candidate.is_relative_to(real_root):
        raise RowError(f"media path {text!r} resolves to {candidate}, outside the source directory")
    if not candidate.exists():
        raise RowError(f"media file {text!r} not found in {source_root}")
    if not candidate.is_file():
        raise RowError(f"media path {text!r} is not a regular file")
    return candidate


def check_image(data: bytes, label: str) -> tuple[str, str]:
    """The (MIME type, extension) of an image's bytes; RowError if it is not a sound PNG/JPEG."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
            image.verify()
        if kind == "JPEG":
            # verify() checks PNG chunk CRCs but reads nothing of a JPEG; decode it instead.
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise RowError(f"{label}: not a readable image: {exc}") from exc
    if kind not in _IMAGE_TYPES:
        raise RowError(f"{label}: image format {kind or 'unknown'} is not PNG or JPEG")
    return _IMAGE_TYPES[kind]


def check_wav(data: bytes, label: str) -> None:
    """RowError unless ``data`` is a WAV file with at least one frame."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            frames = reader.getnframes()
            rate = reader.getframerate()
    except (wave.Error, EOFError, OSError) as exc:
        raise RowError(f"{label}: not a readable WAV file: {exc}") from exc
    if frames == 0 or rate <= 0:
        raise RowError(f"{label}: WAV file holds no audio ({frames} frames at {rate} Hz)")


class MediaStager:
    """Stages an import's media files inside ``out`` until ``commit`` moves them into place."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(dir=self.out, prefix=STAGING_PREFIX))
        self._row_files: list[Path] = []
        self.images = 0
        self.audio = 0

    def begin_row(self) -> None:
        """Start tracking the files of one row, so a row that fails leaves none behind."""
        self._row_files = []

    def discard_row(self) -> None:
        """Remove the files staged since ``begin_row`` (the row was refused)."""
        for path in self._row_files:
            path.unlink(missing_ok=True)
        self._row_files = []

    def keep_row(self) -> None:
        """The row was accepted: count its files."""
        for path in self._row_files:
            if path.relative_to(self.staging).parts[0] == IMAGES_DIR:
                self.images += 1
            else:
                self.audio += 1
        self._row_files = []

    def _stage(self, relative: str, data: bytes, mime_type: str, voice: str | None) -> MediaRef:
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self._row_files.append(target)
        return MediaRef(path=relative, sha256=sha256_hex(data), mime_type=mime_type, voice=voice)

    def image(self, source_root: Path, path: str | Path, query_id: str) -> MediaRef:
        """Copy the image at ``path`` (inside ``source_root``) in as ``images/<id>.<ext>``."""
        real = source_file(source_root, path)
        data = _read(real, str(path))
        mime_type, ext = check_image(data, str(path))
        return self._stage(f"{IMAGES_DIR}/{_safe_name(query_id)}{ext}", data, mime_type, None)

    def image_data(self, data: bytes, label: str, query_id: str) -> MediaRef:
        """Stage an image given as bytes (a log's data URI) as ``images/<id>.<ext>``;
        ``label`` names it in errors."""
        mime_type, ext = check_image(data, label)
        return self._stage(f"{IMAGES_DIR}/{_safe_name(query_id)}{ext}", data, mime_type, None)

    def audio_file(
        self, source_root: Path, path: str | Path, query_id: str, voice: str
    ) -> MediaRef:
        """Copy the WAV at ``path`` (inside ``source_root``) in as ``audio/<voice>/<id>.wav``."""
        real = source_file(source_root, path)
        data = _read(real, str(path))
        check_wav(data, str(path))
        relative = f"{AUDIO_DIR}/{_safe_name(voice)}/{_safe_name(query_id)}.wav"
        return self._stage(relative, data, "audio/wav", voice)

    def commit(self) -> None:
        """Move every staged file to its place in ``out``, then ``queries.jsonl`` last.

        Media first: a reader that sees the new queries file finds every file it names.
        """
        staged_queries = self.staging / QUERIES_FILE
        for dirpath, _dirnames, filenames in os.walk(self.staging):
            for name in filenames:
                path = Path(dirpath) / name
                if path == staged_queries:
                    continue
                target = self.out / path.relative_to(self.staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        if staged_queries.exists():
            default_permissions(staged_queries)
            os.replace(staged_queries, self.out / QUERIES_FILE)
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the staging folder and whatever is left in it."""
        shutil.rmtree(self.staging, ignore_errors=True)


def _read(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RowError(f"{label}: cannot read media file: {exc}") from exc
