"""What every target adapter is: a name, the modalities it accepts, and ``answer``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, Field

from agents.spec import ModelSpec
from kernel.records import Modality, ModalityKind, Query
from kernel.registry import Registry, lookup, names, registrar

target_kind = registrar("target_kind")
"""Registers a target kind's factory; its module is named in :data:`TARGET_KINDS`."""

TARGET_KINDS: Registry[str] = Registry("target kind")
"""Each target kind a config may name, with the module that registers its factory. The
module is imported when a run first builds a target of that kind (the litellm target pulls
in litellm), so a config is checked without it."""
TARGET_KINDS.add("litellm", "targets.litellm_target")
TARGET_KINDS.add("replay", "targets.replay")


def target_factory(kind: str) -> Callable[..., Any]:
    """The factory registered for ``kind``, importing its module on first use."""
    if kind not in names("target_kind"):
        importlib.import_module(TARGET_KINDS.require(kind))
    return lookup("target_kind", kind)


class TargetConfig(ModelSpec):
    """A model under test."""

    name: str | None = None
    """Name in reports and case ids; defaults to the model string."""
    kind: Annotated[str, AfterValidator(TARGET_KINDS.check)] = "litellm"
    """``litellm``: call the model (any provider); ``replay``: answers from a JSONL file."""
    accepts: list[ModalityKind] | None = None
    """Input modalities the target takes, as kinds (``audio`` takes every voice, and
    ``audio+text``). Left out: what the model is known to accept
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
    accepts: frozenset[ModalityKind]

    async def answer(self, query: Query, modality: Modality, *, case_id: str) -> TargetReply:
        """The target's answer to ``query`` put in ``modality``."""
        ...


@dataclass(frozen=True)
class TargetContext:
    """What a target factory may use: where the dataset's media live, and the gateway."""

    dataset_root: Path
    gateway: object  # agents.gateway.Gateway; typed loosely so replay needs no model seam
