"""One writer at a time for what a command writes: its store, its dataset folder.

``run`` and ``rejudge`` took their store's writer lock from the start; ``generate``,
``media`` and ``taxonomy build`` took none, so two of them on one folder interleaved their
files and calls. A folder's lock is a sidecar ``<folder>.lock`` beside it (never inside,
where it would become part of the dataset); a second writer is refused naming the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from kernel.stale_files import remove_stale_temporaries
from transcripts.lock import WriterLock


@contextmanager
def writing(*paths: Path | None, folder: Path | None = None) -> Iterator[None]:
    """Hold the writer lock of every path (a store, a dataset folder) for the block; with
    ``folder``, also remove the temporary files a killed writer left in it (under its
    lock, so none is a live writer's)."""
    with ExitStack() as stack:
        for path in (*paths, folder):
            if path is not None:
                stack.enter_context(WriterLock.acquire(Path(path)))
        if folder is not None:
            remove_stale_temporaries(Path(folder))
        yield
