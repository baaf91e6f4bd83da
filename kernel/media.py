"""A ``MediaRef``'s file: found inside its dataset directory, read, its digest checked.

A query names its image and speech by paths relative to the dataset directory, with their
sha256. These are the rules every reader follows (the dataset's own checks, the targets
and jurors that send the media, the viewer that serves them): nothing outside the
directory is read, and a tampered or swapped file is caught.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from kernel.errors import DatasetError
from kernel.records import MediaRef, sha256_hex


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


def check_relative(path: str, where: str) -> None:
    """DatasetError naming ``where`` when ``path`` is absolute or climbs out with ``..``."""
    if _is_absolute(path):
        raise DatasetError(f"{where}: media path {path!r} is absolute; it must be relative")
    if _lexically_escapes(path):
        raise DatasetError(f"{where}: media path {path!r} leaves the dataset directory")


def resolve_media(root: Path, ref: MediaRef) -> Path:
    """The real path of ``ref``'s file, which must exist inside the dataset directory.

    Absolute paths, ``..`` escapes and symlinks resolving outside the directory are all
    refused, so a dataset cannot make SafeBench read (or upload) arbitrary files.
    """
    root = Path(root)
    check_relative(ref.path, str(root))
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
