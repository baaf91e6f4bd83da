"""The run's record in its store: its name, salt, status, times and config, typed.

``RunStore.run_record()`` reads it back as a :class:`RunRecord`; ``open_run`` registers a
run (or checks that a resumed one is the same run) and ``set_status`` moves it on.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from kernel.errors import StoreError
from kernel.records import utcnow
from transcripts.lock import writer_alive
from transcripts.store_base import StoreBase

M = TypeVar("M", bound=BaseModel)


class RunRecord(BaseModel):
    """The run a store holds, as recorded (``RunStore.run_record()``).

    The config is kept as the JSON text the run stored (``config_json``, secrets masked),
    not interpreted here: a store holds a run's ``RunConfig``, a re-judged run's (the same
    with ``rejudged_from``, the source store), a calibration's jury, an experiment's
    description or a taxonomy build's record, and the models of all of those live above the
    store (which must not import them). So each reader validates the text with its own
    pydantic model through :meth:`config_as`: a run's ``RunConfig``, the audit views' lenient
    ``safebench.audit.stored_config.StoredConfig`` (the jury's seats, voting and budget, read
    from any kind of store, old ones included), a re-judge's view of its source. A config
    that does not fit the model asked for is a StoreError naming the store, never a dict
    indexed by string.
    """

    model_config = ConfigDict(frozen=True)

    store: Path
    """The store file the record was read from (errors name it)."""
    name: str
    status: str
    """running, complete, aborted, stopped, budget (or a command's own, e.g. done)."""
    salt: str
    created_at: datetime
    updated_at: datetime
    schema_version: int
    """The store's schema version (``transcripts.store_file.SCHEMA_VERSION`` when read)."""
    config_json: str
    """The config as stored: JSON text, secrets masked."""
    identity_json: str | None = None
    """The run's identity (safebench.run.fingerprint); None in a store made before
    identities were recorded, and in stores of other commands."""

    def config_as(self, model: type[M]) -> M:
        """The stored config validated as ``model`` (StoreError naming the store if it is
        not one)."""
        try:
            return model.model_validate_json(self.config_json)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the config"
            raise StoreError(
                f"{self.store}: the recorded config of run {self.name!r} is not a "
                f"{model.__name__} ({exc.error_count()} error(s); {where}: {first['msg']})"
            ) from None


StoredRun = RunRecord
"""The former name of the run's record (``RunStore.stored_run()``)."""


class RunTable(StoreBase):
    """The ``run`` table (one row) and the run's identity in ``meta``."""

    def open_run(self, name: str, config_json: str, *, identity_json: str | None = None) -> str:
        """Register the run, or check a resumed one is the same run. Returns its salt.

        ``identity_json`` (the result-bearing part of the config, safebench.run.fingerprint) is
        recorded with it; the caller compares it with ``stored_run()`` first, because a
        resume of another config must be refused before anything here is overwritten.
        """
        now = utcnow().isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                salt = self._open_run(name, config_json, now)
                if identity_json is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('run_identity', ?)",
                        (identity_json,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return salt

    def _open_run(self, name: str, config_json: str, now: str) -> str:
        row = self._db.execute("SELECT name, salt FROM run").fetchone()
        if row is None:
            salt = secrets.token_hex(16)
            self._db.execute(
                "INSERT INTO run VALUES (?, ?, ?, ?, ?, 'running')",
                (name, config_json, salt, now, now),
            )
            return salt
        if row[0] != name:
            raise StoreError(
                f"{self.path} holds run {row[0]!r}, not {name!r}; give this run its own "
                "store path (or the same name to resume it)"
            )
        self._db.execute(
            "UPDATE run SET config_json=?, updated_at=?, status='running'", (config_json, now)
        )
        return str(row[1])

    def stored_run(self) -> RunRecord | None:
        """The run as recorded (see :class:`RunRecord`); None for a store that holds no
        run yet."""
        with self._lock:
            row = self._db.execute(
                "SELECT name, config_json, salt, created_at, updated_at, status FROM run"
            ).fetchone()
            meta = dict(
                self._db.execute(
                    "SELECT key, value FROM meta WHERE key IN ('run_identity', 'schema_version')"
                ).fetchall()
            )
        if row is None:
            return None
        return RunRecord(
            store=self.path,
            name=row[0],
            config_json=row[1],
            salt=row[2],
            created_at=row[3],
            updated_at=row[4],
            status=row[5],
            schema_version=meta["schema_version"],
            identity_json=meta.get("run_identity"),
        )

    def shown_status(self) -> str | None:
        """The run's status as views should show it: a run recorded ``running`` whose writer
        no longer holds the store (its process was killed, the machine went down) is
        ``interrupted``, not running forever; it resumes like any stopped run. None: no run."""
        record = self.stored_run()
        if record is None:
            return None
        if record.status == "running" and writer_alive(self.path) is False:
            return "interrupted"
        return record.status

    def run_record(self) -> RunRecord:
        """The run as recorded; StoreError naming the store when it holds no run."""
        record = self.stored_run()
        if record is None:
            raise StoreError(f"{self.path} holds no run")
        return record

    def run_salt(self) -> str:
        """The opened run's salt, for a worker process of the run (the parent opened it)."""
        return self.run_record().salt

    def set_status(self, status: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE run SET status=?, updated_at=?", (status, utcnow().isoformat())
            )
