"""What every target adapter is: a name, the modalities it accepts, and ``answer``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field

from agents.spec import ModelSpec
from safebench.core.records import Modality, Query
from safebench.core.registry import registrar

target_kind = registrar("target_kind")


class TargetConfig(ModelSpec):
    """A model under test."""

    name: str | None = None
    """Name in reports and case ids; defaults to the model string."""
    kind: Literal["litellm", "replay"] = "litellm"
    """``litellm``: call the model (any provider); ``replay``: answers from a JSONL file."""
    accepts: list[Modality] | None = None
    """Input modalities the target takes. Left out: what the model is known to accept
    (offline simulated targets, litellm's model map), else text only. A case in another
    modality is recorded as skipped, and the target is never sent it."""
    stream: bool = True
    """Stream the answer (litellm targets)."""
    system_prompt: str | None = None
    """A system message sent before every query, e.g. a deployment's own safety prompt."""
    replay_file: Path | None = None
    """For ``kind: replay``: JSONL of {target?, query_id, modality, answer} records."""
    max_concurrency: int | None = Field(None, ge=1)
    """Calls in flight to this target at once (the provider's limit applies too)."""

    @property
    def display_name(self) -> str:
        return self.name or self.model


@dataclass(frozen=True)
class TargetReply:
    text: str
    call_key: str | None
    finish_reason: str | None = None
    """``length``: cut by the token limit (kept, marked truncated); ``content_filter``: the
    provider refused with no content (a refusal, judged as such, never a blank answer)."""


class Target(Protocol):
    name: str
    accepts: frozenset[Modality]

    async def answer(self, query: Query, modality: Modality, *, case_id: str) -> TargetReply:
        """The target's answer to ``query`` put in ``modality``."""
        ...


@dataclass(frozen=True)
class TargetContext:
    """What a target factory may use: where the dataset's media live, and the gateway."""

    dataset_root: Path
    gateway: object  # agents.gateway.Gateway; typed loosely so replay needs no model seam
