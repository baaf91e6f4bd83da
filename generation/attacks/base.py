"""What an attack is: a named, parameterised transform of one ``Query`` into its attacked form.

Each attack registers an :class:`AttackSpec` in :data:`ATTACKS`: its parameters (a pydantic
model, ``extra="forbid"``, every field documented) and an async ``apply``. The attacked query
keeps its id, category and scenario; its text and image are the attacked ones, and
``Query.attack`` records the attack's name, parameters and the original text and image, so a
transcript shows what the target was really sent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from agents.spec import CARRIER_FIELDS
from kernel import secrets
from kernel.errors import ConfigError
from kernel.records import AttackRecord, Query, modality_has_text, modality_kind
from kernel.registry import Registry
from kernel.validation import validation_problems

if TYPE_CHECKING:
    # Only a type here: reading a config (which validates attacks) must not load the gateway.
    from agents.gateway import Gateway

ATTACK_MEDIA_DIR = "attack"
"""Folder of an attacked dataset holding the media an attack made (typographic, perturbed)."""


class AttackParams(BaseModel):
    """Base of every attack's parameters: unknown fields are errors, docstrings describe."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    def content_identity(self) -> dict[str, Any]:
        """What the parameters point at and the attack's output depends on, beyond the
        parameters themselves (a template file's text): part of the run's identity."""
        return {}


@dataclass(frozen=True)
class AttackContext:
    """Where an attack reads and writes media, and how it calls models.

    ``dataset_root`` holds the source query's media; ``out_root`` is the attacked dataset's
    directory (media the attack makes go under it, referenced relative to it). ``gateway``
    is the run's: a model call made by an attack is throttled, retried and recorded in the
    run store like any other, so a resumed run asks nothing twice. None where no model may
    be called (an attack that needs one then says so).
    """

    dataset_root: Path
    out_root: Path
    gateway: Gateway | None = None

    def media_path(self, query: Query, suffix: str) -> Path:
        """A file of ``out_root`` for this query's attacked media (a safe, unique name)."""
        slug = re.sub(r"[^A-Za-z0-9._-]", "_", query.id)[:60]
        tag = hashlib.sha256(query.id.encode()).hexdigest()[:8]
        return self.out_root / ATTACK_MEDIA_DIR / f"{slug}-{tag}{suffix}"


Apply = Callable[[Query, Any, AttackContext], Awaitable[Query]]


@dataclass(frozen=True)
class AttackSpec:
    """One registered attack."""

    name: str
    summary: str
    """One line for ``safebench attacks``."""
    params: type[AttackParams]
    apply: Apply
    """``apply(query, params, context)``: the attacked query, ``attack`` set."""
    acts_on: Literal["text", "image"]
    """What it changes: the written text (sent with ``text``, ``image`` and ``audio+text``
    cases; bare ``audio`` sends the original speech) or the image (``image`` cases only)."""

    def reaches(self, modality: str) -> bool:
        """Whether a case of ``modality`` sends what this attack changes."""
        if self.acts_on == "image":
            return modality_kind(modality) == "image"
        return modality_has_text(modality)


ATTACKS: Registry[AttackSpec] = Registry("attack")
"""Every attack, by name (``typographic``, ``persuasion``, ``template``, ``pgd``)."""


def register_attack(spec: AttackSpec) -> AttackSpec:
    return ATTACKS.add(spec.name, spec)


def public_params(params: AttackParams) -> dict[str, Any]:
    """The parameters as recorded (on the query, in the run identity): JSON, secrets masked."""
    dumped = params.model_dump(mode="json", exclude_none=True)
    masked: dict[str, Any] = secrets.mask_secrets(dumped)
    return masked


def attacked(query: Query, name: str, params: AttackParams, **changes: Any) -> Query:
    """``query`` with ``changes`` applied and the attack recorded (original text and image)."""
    record = AttackRecord(
        name=name,
        params=public_params(params),
        original_text=query.text,
        original_image=query.image,
    )
    return query.model_copy(update={**changes, "attack": record})


def failed_attack(query: Query, name: str, params: dict[str, Any], error: str) -> Query:
    """``query`` as written, recording that attack ``name`` failed on it and why."""
    record = AttackRecord(name=name, params=params, original_text=query.text, error=error)
    return query.model_copy(update={"attack": record})


def parse_params(name: str, params: dict[str, Any]) -> AttackParams:
    """``params`` validated against attack ``name``'s model; ConfigError naming what is wrong."""
    spec = ATTACKS.require(name)
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        problems = validation_problems(exc, root="(params)")
        raise ConfigError(f"attack {name!r}: bad params: {problems}") from None


_NOT_RESULTS = CARRIER_FIELDS
"""As the run identity treats targets and jurors: a persuasion model moved to another port,
or given its key another way, is the same attack."""


def _results_part(value: Any) -> Any:
    if isinstance(value, dict):
        spec = "model" in value and isinstance(value.get("model"), str)
        return {k: _results_part(v) for k, v in value.items() if not (spec and k in _NOT_RESULTS)}
    if isinstance(value, list):
        return [_results_part(v) for v in value]
    return value


class AttackConfig(BaseModel):
    """An attack as a config names it: ``attack: {name: template, params: {template: fiction}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: str
    """A registered attack (``safebench attacks`` lists them)."""
    params: dict[str, Any] = {}
    """The attack's parameters, checked against its parameter model when the config is read."""

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        return ATTACKS.check(value)

    @model_validator(mode="after")
    def _params_fit(self) -> AttackConfig:
        try:
            parse_params(self.name, self.params)
        except ConfigError as exc:
            # A ValueError, so the config error names the field (``attack``).
            raise ValueError(str(exc)) from None
        return self

    def parsed(self) -> AttackParams:
        """The validated parameter model."""
        return parse_params(self.name, self.params)

    def identity(self) -> dict[str, Any]:
        """What decides the attacked queries: the name and the full parameters (defaults
        included, secrets masked), so ``{}`` and the defaults spelled out are one attack."""
        params = self.parsed()
        found: dict[str, Any] = {"name": self.name, "params": _results_part(public_params(params))}
        content = params.content_identity()
        if content:
            found["content"] = content
        return found


async def apply_attack(config: AttackConfig, query: Query, context: AttackContext) -> Query:
    """``query`` under the attack ``config`` names."""
    spec = ATTACKS.require(config.name)
    return await spec.apply(query, config.parsed(), context)
