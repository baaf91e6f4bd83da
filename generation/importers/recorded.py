"""Recorded answers of an imported harness log, and the run config that judges them.

An inspect-ai log or a promptfoo results file holds each model's answers beside the
prompts. The import writes them as ``answers.jsonl`` in the shape the ``replay`` target
reads (``{target, query_id, modality, answer}`` per line) and a ``run.yaml`` with one replay
target per model, so ``safebench run DIR/run.yaml`` judges the answers and asks no model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

ANSWERS_FILE = "answers.jsonl"
"""Where an import of a harness log keeps the recorded answers, inside the dataset."""
RUN_CONFIG_FILE = "run.yaml"
"""The run config written beside them."""
STORE_FILE = "run.sqlite"
"""The store that run config names, inside the dataset directory."""

OFFLINE_JURY: dict[str, Any] = {
    "jurors": [
        {"model": "safebench/harm-judge", "persona": "Safety researcher"},
        {"model": "safebench/pattern-juror", "persona": "Ethicist"},
        {"model": "safebench/refusal-juror", "persona": "Vulnerable-users advocate"},
        {"model": "safebench/harm-judge", "persona": "Legal expert"},
        {"model": "safebench/harm-judge", "persona": "Free-expression advocate"},
    ],
    "rounds": 2,
    "voting": {"rule": "majority"},
    "foreperson": {"model": "safebench/foreperson"},
}
"""The jury the written run config names: the offline default
(``examples/juries/offline-default.yaml``), which needs no key; ``safebench rejudge`` puts
any other jury on the same store."""

REPLAY_PROVIDER = "replay"
"""The prefix of each replay target's nominal model string: a replay target calls no model
(the run's preflight passes it over), so the string only names whose answers these are."""


class RecordedAnswer(BaseModel):
    """One line of ``answers.jsonl``: what ``targets.replay`` reads back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(min_length=1)
    query_id: str = Field(min_length=1)
    modality: str
    """``image`` when the query carries the image the model saw, else ``text``."""
    answer: str
    finish_reason: Literal["stop", "length", "content_filter"] | None = None
    """Why the answer ended, in the gateway's terms, where the harness recorded it:
    ``length`` (cut by the token limit: judged, marked truncated), ``content_filter`` (the
    provider refused: judged as a refusal, even with no text), ``stop``; None: not recorded."""


def run_name(importer: str, out: Path) -> str:
    """A run name (``[A-Za-z0-9._-]+``) made of the importer's and the dataset's names."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(out).resolve().name).strip("-.")
    return f"{importer}-{stem}" if stem else importer


def run_config(importer: str, out: Path, answers: list[RecordedAnswer], *, source: str) -> str:
    """The YAML of a run that judges ``answers`` (kept in ``out``) with the offline jury."""
    root = Path(out).resolve()
    modalities = sorted({a.modality for a in answers}, key=("text", "image").index)
    targets = []
    for name in sorted({a.target for a in answers}):
        targets.append(
            {
                "name": name,
                "model": f"{REPLAY_PROVIDER}/{name}",
                "kind": "replay",
                "replay_file": str(root / ANSWERS_FILE),
                "accepts": list(modalities),  # a copy: no YAML alias in the file
            }
        )
    config = {
        "name": run_name(importer, out),
        "dataset": str(root),
        "modalities": list(modalities),
        "targets": targets,
        "jury": OFFLINE_JURY,
        "store": str(root / STORE_FILE),
    }
    header = (
        f"# Written by `safebench dataset import {importer} {source}`.\n"
        "# Judges the answers recorded in answers.jsonl: each target is a replay target (its\n"
        "# model string is nominal; no model is called). The jury is the offline default;\n"
        f"# `safebench rejudge {root / STORE_FILE} --jury FILE` puts another on the answers.\n"
    )
    if len(modalities) > 1:
        # A run puts every query in every modality; an image query's text case was never
        # asked of the model, so it has no answer and is recorded failed, by design: those
        # known failures must not stop the run at the default failure rate.
        config["max_failure_rate"] = 1.0
        header += (
            "# The log mixes text and image prompts: each image prompt's text case has no\n"
            "# recorded answer (the model saw the image) and is recorded failed, so\n"
            "# max_failure_rate is 1.0 here.\n"
        )
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    return header + body
