"""What a harness's jury is configured by: a jury file, or a scorer file naming its store.

A *jury file* is what ``examples/juries/`` holds (``jurors:``, ``rounds:``, ``voting:`` …).
A *scorer file* wraps one with the store the deliberations go to and the gateway's settings::

    jury: {jurors: [...], rounds: 2}
    store: runs/my-eval.sqlite      # default: runs/<harness>-jury-<jury hash>.sqlite
    gateway: {timeout_s: 60}

The store, when not named, is one per harness and jury: every eval judged by the same jury
adds its cases to the same store (each case keyed by model, sample and answer), and a
different jury gets a store of its own, as ``safebench rejudge`` names its stores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from agents.settings import GatewaySettings
from jury.config import JuryConfig, jury_hash
from kernel import secrets
from kernel.errors import ConfigError
from kernel.validation import format_validation_error
from kernel.yamlread import read_yaml_mapping

Harness = Literal["inspect", "promptfoo"]


class ScorerFile(BaseModel):
    """A scorer file: the jury, and where and how it is asked."""

    model_config = ConfigDict(extra="forbid")

    jury: JuryConfig
    """The jury, as a run config's ``jury:`` holds it."""
    store: Path | None = None
    """The SafeBench store the deliberations are written to (relative to the working
    folder); left out: ``runs/<harness>-jury-<jury hash>.sqlite``."""
    gateway: GatewaySettings | None = None
    """Retries, timeouts and limits of the jurors' calls; left out: the defaults."""


class JurySettings(BaseModel):
    """A harness's jury, resolved: what the clerk opens."""

    model_config = ConfigDict(frozen=True)

    harness: Harness
    source: Path
    """The file the jury was read from (errors and the stored config name it)."""
    jury: JuryConfig
    store: Path
    gateway: GatewaySettings | None = None

    @property
    def run_name(self) -> str:
        """The store's run: one per harness and jury, so a store is never shared by two
        juries (a second one is refused naming both)."""
        return f"{self.harness}-jury-{jury_hash(self.jury)}"

    def stored_config(self) -> str:
        """The config the store records (secrets masked): the jury under ``jury``, as a
        run's, so ``safebench serve`` and ``report`` show its seats."""
        data: dict[str, Any] = {
            "harness": self.harness,
            "source": str(self.source),
            "jury": json.loads(self.jury.model_dump_json(exclude_none=True)),
        }
        if self.gateway is not None:
            data["gateway"] = json.loads(self.gateway.model_dump_json())
        return json.dumps(secrets.mask_secrets(data), separators=(",", ":"))


def load_jury_settings(
    harness: Harness,
    config: str | Path,
    *,
    rubric: str | None = None,
    store: str | Path | None = None,
) -> JurySettings:
    """Read ``config`` (a jury file or a scorer file); ``rubric`` replaces the jury's rubric
    and ``store`` the file's store. Errors are ConfigErrors naming the file and field."""
    # Importing the offline package fills the catalogue ``safebench/…`` juror names are
    # checked against (as the command line does before it reads a config).
    import safebench.offline  # noqa: F401

    path = Path(config)
    data = read_yaml_mapping(
        path, "jury file", "a jury file is a mapping (jurors:, rounds: … or jury:, store:)"
    )
    if rubric is not None:
        # Set before validation, so a rubric the jury's seats cannot judge by is refused.
        jury = data.get("jury", data)
        if isinstance(jury, dict):
            jury["rubric"] = rubric
    try:
        if "jury" in data:
            parsed = ScorerFile.model_validate(data)
        else:  # a jury file: its errors name the jury's own fields
            parsed = ScorerFile(jury=JuryConfig.model_validate(data))
    except ValidationError as exc:
        model = ScorerFile if "jury" in data else JuryConfig
        raise ConfigError(format_validation_error(path, exc, "jury file", model)) from None
    chosen = Path(store) if store is not None else parsed.store
    if chosen is None:
        chosen = Path("runs") / f"{harness}-jury-{jury_hash(parsed.jury)}.sqlite"
    return JurySettings(
        harness=harness, source=path, jury=parsed.jury, store=chosen, gateway=parsed.gateway
    )
