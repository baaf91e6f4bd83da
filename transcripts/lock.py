"""One writer per run store: an OS lock on a sidecar ``<store>.lock`` file.

Two runs writing one store at once double every call and can store answers that disagree
with the call their key points to, so a writer (``run``, ``rejudge``) takes an exclusive
``flock`` on ``<store>.lock`` before it opens the store, and writes its pid and command
there. The kernel drops the lock when the holder's process dies, however it dies (kill -9
included), so a lock is never stale; the file itself stays (removing it would let two
processes lock two different files of one name) and is simply taken over by the next
writer. The worker processes of a run write under their parent's lock and take none;
readers (report, transcripts, export) take none either.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ValidationError

from kernel.errors import StoreInUse


class LockHolder(BaseModel):
    """Who holds a store, as its lock file records it."""

    pid: int
    command: str = ""


def lock_path(store: Path) -> Path:
    store = Path(store)
    return store.with_name(store.name + ".lock")


def _own_command() -> str:
    try:
        raw = Path("/proc/self/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:300]


class WriterLock:
    """The exclusive writer's lock on one store; release it, or let the process end."""

    def __init__(self, store: Path, fd: int) -> None:
        self.store = Path(store)
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, store: Path) -> WriterLock:
        """Take the store, or raise ``StoreInUse`` naming the process that holds it."""
        path = lock_path(store)
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open's descriptors are not inherited by child processes (PEP 446), and flock
        # belongs to this open file: workers started by this process never hold the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreInUse(_in_use_message(Path(store), holder)) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            me = LockHolder(pid=os.getpid(), command=_own_command())
            os.ftruncate(fd, 0)
            os.pwrite(fd, me.model_dump_json().encode(), 0)
        except BaseException:
            os.close(fd)  # a full disk must not leave this process holding its own lock
            raise
        return cls(store, fd)

    def release(self) -> None:
        if self._fd is not None:
            # Closing the only descriptor drops the flock; the file stays for the next writer.
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def writer_alive(store: Path) -> bool | None:
    """Whether a writer holds ``store`` now: True, False, or None when it cannot be told (the
    lock file is unreadable). Probed with a shared, non-blocking flock released at once, so a
    reader never waits and never keeps a writer out (a writer starting in that instant is
    refused as if another held the store, and says so). No lock file: no writer ever ran here
    since locks existed, so none is running."""
    path = lock_path(store)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # closing drops the shared lock, if it was taken
    return False


def _read_holder(fd: int) -> LockHolder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        return LockHolder.model_validate_json(raw) if raw else None
    except (OSError, ValidationError):
        return None  # the holder has not written its pid yet


def _in_use_message(store: Path, holder: LockHolder | None) -> str:
    if holder is None:
        who = "another SafeBench process (its pid is not recorded yet)"
    else:
        who = f"another SafeBench process, pid {holder.pid}"
        if holder.command:
            who += f" ({holder.command})"
    return (
        f"{store} is in use by {who}. One writer per store: two runs on one store would ask "
        "every model twice and could store answers that disagree with their recorded calls. "
        "Wait for it to finish (or stop it; a stopped run resumes), or give this run its own "
        f"`name:` or --store PATH. Lock file: {lock_path(store)}"
    )
