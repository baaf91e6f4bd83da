"""Replay recorded answers from a JSONL file: re-judge what a model said, without calling it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kernel.errors import ConfigError, DatasetError
from kernel.records import MODALITIES, Modality, Query
from targets.base import TargetConfig, TargetContext, TargetReply, target_kind


class RecordedAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query_id: str
    answer: str
    modality: Modality = "text"
    target: str | None = None
    finish_reason: Literal["stop", "length", "content_filter"] | None = None
    """Why the recorded answer ended, where known: ``length`` (truncated) and
    ``content_filter`` (a provider refusal) are judged as a live answer's would be."""


class MissingAnswer(Exception):
    """The replay file has no answer for this case."""


class ReplayTarget:
    def __init__(self, config: TargetConfig, context: TargetContext) -> None:
        if config.replay_file is None:
            raise ConfigError(f"target {config.display_name!r}: kind replay needs replay_file")
        self.name = config.display_name
        self.accepts = frozenset(config.accepts or MODALITIES)
        self.answers = load_recorded(config.replay_file, self.name)

    async def answer(self, query: Query, modality: Modality, *, case_id: str) -> TargetReply:
        found = self.answers.get((query.id, modality))
        if found is None:
            raise MissingAnswer(f"no recorded answer for query {query.id!r} ({modality})")
        return TargetReply(found.answer, None, found.finish_reason)


def load_answers(path: Path, target: str) -> dict[tuple[str, Modality], str]:
    """Each recorded answer's text of ``target`` (or of no target named)."""
    return {key: record.answer for key, record in load_recorded(path, target).items()}


def load_recorded(path: Path, target: str) -> dict[tuple[str, Modality], RecordedAnswer]:
    """Each recorded answer of ``target`` (or of no target named), with why it ended."""
    answers: dict[tuple[str, Modality], RecordedAnswer] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read replay file: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = RecordedAnswer.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DatasetError(f"{path}:{number}: not a recorded answer: {exc}") from None
        if record.target in (None, target):
            answers[(record.query_id, record.modality)] = record
    return answers


@target_kind("replay")
def replay_target(config: TargetConfig, context: TargetContext) -> ReplayTarget:
    """Answers read from a JSONL file; no model is called."""
    return ReplayTarget(config, context)
