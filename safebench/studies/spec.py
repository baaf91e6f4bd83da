"""``StudySpec``: what a study varies, read from YAML with errors naming the file and field."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from generation.image_controls import CONTROL_VARIANTS
from kernel.errors import ConfigError
from kernel.records import check_modality
from kernel.validation import format_validation_error
from kernel.yamlread import read_yaml_mapping
from safebench.offline import catalog  # noqa: F401  (its import fills the names validated)

REFINED = "refined"
"""The image condition of the dataset's own images (the paper's refined image)."""
CONDITIONS: tuple[str, ...] = (REFINED, *CONTROL_VARIANTS)
"""Every image condition a study may name: the dataset's own images and its controls."""
NO_ATTACK = "none"
"""The attack axis' value for the queries as written (the vanilla baseline)."""

AXES: tuple[str, ...] = ("condition", "modality", "attack", "dataset")
"""The axes a study can vary, in the order a cell's name lists them."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetEntry(Strict):
    """One dataset of a cross-dataset study."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    """Its label in tables and cell names."""
    path: str
    """A dataset directory (with ``queries.jsonl``) or ``builtin:seed``; relative paths are
    read from the directory the command runs in, as for ``safebench run``."""
    format: str | None = None
    """Read ``path`` as a published benchmark with this importer (``figstep``,
    ``json-list``, ``safebench-release`` …; ``safebench dataset import --help``), imported
    into the study folder; left out, ``path`` is a SafeBench dataset."""
    categories: dict[str, str] = Field(default_factory=dict)
    """Renames of this dataset's categories onto the shared ones (``theirs: ours``), so
    benchmarks with their own taxonomies can be compared category by category."""


class AttackEntry(Strict):
    """One value of the attack axis: a registered attack and its parameters."""

    name: str = Field(min_length=1)
    """The attack (``safebench attacks`` lists them), or ``none`` for the vanilla queries."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The attack's parameters."""
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$")
    """Its label in tables and cell names (default: the name, plus the first parameter's
    value when the same attack appears twice)."""


class Sample(Strict):
    """A stratified sample of the queries, the same in every cell."""

    per_category: int = Field(ge=1)
    """Queries drawn from each category (all of a category's when it has fewer)."""
    categories: list[str] | None = None
    """Categories to draw from; default: those every dataset of the study has."""
    seed: int = 7
    """Seed of the draw: the same seed draws the same queries."""


class Axes(Strict):
    """The factors a study varies; every combination of their values is a cell."""

    condition: list[str] | None = None
    """Image conditions: ``refined`` (the dataset's own images) and the controls ``black``,
    ``white``, ``noise``, ``unrelated`` (another query's image), ``unrefined`` (the naive
    text-to-image image). Needs ``image`` cases; a dataset other than ``builtin:seed`` must
    have its controls rendered first (``safebench media DIR --controls``)."""
    modality: list[str] | None = None
    """Modalities, one per cell: ``text``, ``image``, ``audio:<voice>``,
    ``audio+text:<voice>``. With ``builtin:seed`` the study speaks the queries in the voices
    it names (espeak-ng)."""
    attack: list[AttackEntry] | None = None
    """Attacks applied to the queries before the targets see them; ``none`` is the vanilla
    baseline. A bare string is an attack without parameters."""
    dataset: list[DatasetEntry] | None = None
    """Datasets compared under the same jury (sampled with ``sample``)."""

    @field_validator("attack", mode="before")
    @classmethod
    def _bare_attacks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("modality")
    @classmethod
    def _known_modalities(cls, value: list[str] | None) -> list[str] | None:
        for modality in value or []:
            check_modality(modality)
        return value

    @field_validator("condition")
    @classmethod
    def _known_conditions(cls, value: list[str] | None) -> list[str] | None:
        for condition in value or []:
            if condition not in CONDITIONS:
                raise ValueError(
                    f"unknown image condition {condition!r}; known: {', '.join(CONDITIONS)}"
                )
        return value

    def values(self) -> dict[str, list[str]]:
        """The label of every value, per axis that the study varies."""
        found: dict[str, list[str]] = {}
        if self.condition:
            found["condition"] = list(self.condition)
        if self.modality:
            found["modality"] = list(self.modality)
        if self.attack:
            found["attack"] = attack_labels(self.attack)
        if self.dataset:
            found["dataset"] = [d.name for d in self.dataset]
        return found


def attack_labels(attacks: list[AttackEntry]) -> list[str]:
    names = [a.name for a in attacks]
    labels = []
    for attack in attacks:
        label = attack.label or attack.name
        if attack.label is None and names.count(attack.name) > 1 and attack.params:
            first = str(next(iter(attack.params.values())))
            label = f"{attack.name}-{first}"
        labels.append(label)
    return labels


class Family(Strict):
    """Models of one family at several sizes (the parameter-size study)."""

    name: str = Field(min_length=1)
    """The family's label."""
    sizes: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]]
    """Parameters (billions) of each member, by the target's name in the run: a positive,
    finite number (``.nan`` or ``.inf`` used to crash the size table after every cell ran)."""


class Pair(Strict):
    """A multimodal model and the language model it was built on (the backbone study)."""

    model: str
    """The multimodal target's name in the run."""
    backbone: str
    """Its backbone LLM's target name (sent the same text queries)."""


class StudySpec(Strict):
    """A study: a base run config and what varies from cell to cell."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    """The study's name; its default output folder is ``runs/study-<name>``."""
    title: str | None = None
    """A heading for study.md and study.html."""
    base: Path
    """The run config every cell starts from (targets, jury, modalities); relative to the
    spec file. Its jury judges every cell."""
    axes: Axes = Axes()
    """What varies. No axis: one cell, the base run (e.g. a size or backbone study, whose
    comparison is between targets)."""
    targets: list[dict[str, Any]] | None = None
    """Replaces the base config's targets (each as in a run config)."""
    modalities: list[str] | None = None
    """Replaces the base config's modalities in every cell (the modality axis, when given,
    sets one per cell instead)."""

    @field_validator("modalities")
    @classmethod
    def _known_modalities(cls, value: list[str] | None) -> list[str] | None:
        for modality in value or []:
            check_modality(modality)
        return value

    limit: int | None = Field(None, ge=1)
    """Queries per cell (the first N of each cell's dataset, after sampling)."""
    jurors: list[str] | None = None
    """Juror models replacing the base config's jurors (``safebench study --juror``)."""
    sample: Sample | None = None
    """A stratified sample per category, drawn once and used in every cell."""
    baseline: dict[str, str] = Field(default_factory=dict)
    """The value of each axis that uplift is measured against (default: the axis' first
    value; ``attack: none`` when the attack axis has it)."""
    families: list[Family] = Field(default_factory=list)
    """Model families for the parameter-size table and plot."""
    pairs: list[Pair] = Field(default_factory=list)
    """(multimodal model, backbone) pairs for the backbone uplift table."""

    @model_validator(mode="after")
    def _baseline_values(self) -> StudySpec:
        values = self.axes.values()
        for axis, value in self.baseline.items():
            if axis not in values:
                raise ValueError(f"baseline names {axis!r}, which the study does not vary")
            if value not in values[axis]:
                raise ValueError(
                    f"baseline {axis}: {value!r} is not one of its values: "
                    f"{', '.join(values[axis])}"
                )
        for axis, labels in values.items():
            duplicates = sorted({v for v in labels if labels.count(v) > 1})
            if duplicates:
                raise ValueError(f"axes.{axis} repeats {', '.join(duplicates)}")
        return self

    def baseline_of(self, axis: str) -> str:
        values = self.axes.values()[axis]
        if axis in self.baseline:
            return self.baseline[axis]
        if axis == "attack" and NO_ATTACK in values:
            return NO_ATTACK
        return values[0]

    def check_pairs(self, targets: list[str]) -> None:
        """ConfigError unless every pair names targets of the run (``targets``: their names,
        known once the base config is read). Checked before any cell runs: a misspelt name
        otherwise leaves the backbone table empty after every cell has run."""
        for index, pair in enumerate(self.pairs):
            for field in ("model", "backbone"):
                name = getattr(pair, field)
                if name not in targets:
                    raise ConfigError(
                        f"study {self.name}: pairs[{index}].{field}: {name!r} is not a target "
                        f"of the run; its targets: {', '.join(targets)}"
                    )


def load_study(path: Path, overrides: dict[str, Any] | None = None) -> StudySpec:
    """Read a study spec; the base path is made relative to the spec's folder.
    ``overrides`` replace top-level fields (the command line's ``--limit``)."""
    data = read_yaml_mapping(
        path, "study spec", "a study spec is a mapping (name:, base:, axes: …)"
    )
    data.update(overrides or {})
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc, "study spec", StudySpec)) from None
    base = (
        spec.base
        if spec.base.is_absolute()
        else Path(os.path.normpath(Path(path).parent / spec.base))
    )
    if not base.is_file():
        # A spec copied elsewhere keeps a base: relative to where it was: say where the
        # path led, in full, and from where it is read.
        folder = Path(path).resolve().parent
        raise ConfigError(
            f"{path}: base: no run config at {base.resolve()} (base: {spec.base} is read "
            f"relative to the spec file's folder, {folder}; give a path from there or an "
            "absolute one)"
        )
    return spec.model_copy(update={"base": base})
