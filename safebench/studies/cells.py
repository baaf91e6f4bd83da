"""A study's cells: every combination of its axes' values, each an ordinary run config.

A cell's store is named from its values and a digest of its run identity (what ``safebench
run`` refuses to resume across: dataset content, modalities, attack, sample, targets, jury,
limit, prompts version), so rerunning a study resumes every cell and a changed cell starts a
new store instead of being refused or, worse, mixed into the old one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import ConfigError
from safebench.run.config import RunConfig, load_run_config
from safebench.run.fingerprint import run_identity
from safebench.studies.datasets import StudyData
from safebench.studies.spec import AXES, NO_ATTACK, REFINED, StudySpec, attack_labels

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class Cell:
    """One run of a study: its axis values and its run config."""

    name: str
    values: dict[str, str]
    config: RunConfig

    @property
    def store(self) -> Path:
        return self.config.store_path()


def base_overrides(spec: StudySpec) -> dict[str, Any]:
    """The study's changes to its base config (targets, limit)."""
    overrides: dict[str, Any] = {}
    if spec.targets is not None:
        overrides["targets"] = spec.targets
    if spec.modalities is not None:
        overrides["modalities"] = spec.modalities
    if spec.limit is not None:
        overrides["limit"] = spec.limit
    return overrides


def base_config(spec: StudySpec) -> RunConfig:
    """The base run config with the study's overrides, validated (errors name the file)."""
    return load_run_config(spec.base, base_overrides(spec), jurors=spec.jurors)


def cell_modalities(spec: StudySpec, base: RunConfig) -> list[str]:
    return list(spec.axes.modality or base.modalities)


def expand(spec: StudySpec, data: StudyData, out: Path) -> list[Cell]:
    """Every cell of ``spec``, in a stable order (axes in ``AXES`` order, values as given)."""
    values = spec.axes.values()
    axes = [axis for axis in AXES if axis in values]
    attacks = dict(zip(values.get("attack", []), spec.axes.attack or [], strict=True))
    datasets = values.get("dataset", ["base"])
    cells: list[Cell] = []
    for combination in itertools.product(*(values[axis] for axis in axes)):
        chosen = dict(zip(axes, combination, strict=True))
        dataset = chosen.get("dataset", datasets[0])
        condition = chosen.get("condition", REFINED)
        update: dict[str, Any] = {"dataset": str(data.roots[(dataset, condition)])}
        if "modality" in chosen:
            update["modalities"] = [chosen["modality"]]
        if "attack" in chosen:
            entry = attacks[chosen["attack"]]
            # ``none`` is the vanilla baseline even when the base config has an attack.
            update["attack"] = (
                None if entry.name == NO_ATTACK else {"name": entry.name, "params": entry.params}
            )
        config = _validated(spec, update, chosen)
        digest = _identity_digest(config, data.roots[(dataset, condition)])
        slug = "_".join(f"{axis}-{_UNSAFE.sub('-', chosen[axis])}" for axis in axes) or "base"
        name = f"{spec.name}.{slug}-{digest[:8]}"
        config = config.model_copy(update={"name": name, "store": out / "cells" / f"{name}.sqlite"})
        cells.append(Cell(name, chosen, config))
    return cells


def _validated(spec: StudySpec, update: dict[str, Any], chosen: dict[str, str]) -> RunConfig:
    # From the file, not from ``base`` dumped: a dump would carry masked secrets.
    try:
        return load_run_config(
            spec.base,
            {**base_overrides(spec), **update},
            jurors=spec.jurors,
        )
    except ConfigError as exc:
        where = ", ".join(f"{k}={v}" for k, v in chosen.items()) or "base"
        raise ConfigError(f"study {spec.name}: cell {where}: {exc}") from None


def _identity_digest(config: RunConfig, dataset_root: Path) -> str:
    """A digest of the run identity (``safebench.run.fingerprint``: what ``safebench run``
    refuses to resume across), less the dataset's path as spelled: its content is in it, and
    the same study run with ``--out DIR`` or ``--out /abs/DIR`` is the same study. Budgets,
    keys, transports and concurrency are not in the identity, so changing them resumes the
    same cell; a seat's endpoint (``api_base``) is, so moving a model to another server
    makes another cell."""
    identity = run_identity(config, dataset_root)
    identity["dataset"] = {k: v for k, v in identity["dataset"].items() if k != "source"}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def labels_of(spec: StudySpec) -> dict[str, list[str]]:
    """The axes' value labels (for tables), attack labels included."""
    values = spec.axes.values()
    if spec.axes.attack:
        values["attack"] = attack_labels(spec.axes.attack)
    return values
