"""Temporary files a killed writer left behind, removed by the next writer.

``kernel.files.atomic_write`` writes ``.<name>.<random>.tmp`` beside its target and renames
it into place; a process killed in between (kill -9, a power cut) leaves the temporary file.
Nobody else names or reads it, so the next writer of the same folder, holding that folder's
writer lock, removes them before it writes.
"""

from __future__ import annotations

import re
from pathlib import Path

_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")
"""``atomic_write``'s temporary names (``tempfile.mkstemp`` adds at least six characters)."""


def remove_stale_temporaries(folder: Path) -> int:
    """Remove ``atomic_write``'s leftover temporary files under ``folder``; how many went.
    Call it only while holding the folder's writer lock: a live writer's file looks the same."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.rglob(".*.tmp"):
        if path.is_file() and not path.is_symlink() and _TEMPORARY.match(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
