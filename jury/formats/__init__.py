"""Judge formats: the published safety classifiers' prompts and answer readers, by name.

``format: llama-guard-3`` on a juror asks that juror with the format's prompt instead of the
courtroom's brief and reads its answer with the format's reader (``jury/formats/seat.py``).
One module per family; each registers its formats in ``JUDGE_FORMATS`` on import.
"""

from __future__ import annotations

from jury.formats import harmbench, llama_guard, shieldgemma, wildguard
from jury.formats.base import (
    JUDGE_FORMATS,
    FormatAnswerError,
    FormatInput,
    JudgeFormat,
    Reading,
)

__all__ = [
    "JUDGE_FORMATS",
    "FormatAnswerError",
    "FormatInput",
    "JudgeFormat",
    "Reading",
    "get_format",
    "harmbench",
    "llama_guard",
    "shieldgemma",
    "wildguard",
]


def get_format(name: str) -> JudgeFormat:
    """The format ``name``; a ``ConfigError`` naming the known ones if there is none."""
    return JUDGE_FORMATS.require(name)
