"""``RunConfig``: one YAML file says what to evaluate, with whom, and how.

Errors name the file and the field (``examples/x.yaml: jury.jurors.2.model: …``), because a
typo in a config must be an error, never a silent default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.settings import GatewaySettings
from generation.attacks import ATTACKS, AttackConfig
from generation.sampling import SampleConfig
from jury.config import JuryConfig
from kernel import secrets
from kernel.errors import ConfigError
from kernel.records import Modality
from kernel.validation import format_validation_error
from kernel.yamlread import read_yaml_mapping
from safebench.offline import catalog  # noqa: F401  (its import fills the names validated)
from targets.base import TargetConfig


class BudgetConfig(BaseModel):
    """The most a run may spend; the run stops cleanly (status ``budget``) before a model
    call would pass either limit, and resumes when the limit is raised. Counted over the
    run's whole store: calls recorded by earlier sessions count, calls read back do not."""

    model_config = ConfigDict(extra="forbid")

    # Strict: YAML's ``yes`` would be read as 1 call, and ``'10'`` as 10.
    max_calls: int | None = Field(None, ge=1, strict=True)
    """Model calls really sent (targets, jurors, foreperson, attacks), each recorded call
    once; retries of one call are not counted apart. None: no limit."""
    max_usd: float | None = Field(None, gt=0, strict=True, allow_inf_nan=False)
    """Dollars, as litellm's price map prices each reply's usage; calls to unpriced models
    (offline ``safebench/…``, local servers) cost nothing here. A call is priced when it
    returns, so the next one is assumed to cost as much as the dearest so far. None: no
    limit."""


class RayConfig(BaseModel):
    """Where and how ``executor: ray`` runs the cases (``safebench/run/executors/ray_run.py``):
    ``num_workers`` Ray actors, each with its own gateway, targets and jury, the cases
    sharded among them by a hash of the case id; the store stays on this machine."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, pattern=r"^(auto|ray://\S+|[\w.-]+:\d+)$")
    """The cluster: ``auto`` (the one ``ray start`` runs on this machine) or ``host:port`` (its
    GCS); ``ray://…`` (Ray Client) is refused when the run starts, as such a driver runs no
    actor on the machine that holds the store. None starts a local one for the run (this
    machine's cores; or joins ``$RAY_ADDRESS`` when set, as ``ray.init`` does). A process
    that already called ``ray.init`` uses that cluster."""
    num_workers: int = Field(2, ge=1, le=1024)
    """Ray actors the cases are sharded over; ``concurrency``, provider limits and target
    ``max_concurrency`` are split evenly among them, as for ``workers``."""
    resources: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources each actor asks for (``{eval_node: 1}``), to pin them to nodes."""
    num_cpus_per_worker: float = Field(1.0, ge=0)
    """CPUs Ray reserves for each actor (one event loop uses about one core)."""
    num_gpus_per_worker: float | None = Field(None, ge=0)
    """GPUs Ray gives each actor. None: 1 when a local model (``hf/…``, ``hf-classifier/…``)
    of the run is placed on CUDA (``params: {device: cuda}`` or a ``device_map``), else 0."""
    start_timeout_s: float = Field(60.0, gt=0, le=3600, allow_inf_nan=False)
    """Seconds to wait for the cluster to answer and for every actor (and the store writer)
    to be placed and started; past it the run stops with a message before any case runs
    (an actor that cannot be placed would otherwise wait for ever)."""


class RunConfig(BaseModel):
    """A whole evaluation run."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    """The run's name; also its default store file, ``runs/<name>.sqlite``."""
    dataset: str = "builtin:seed"
    """A dataset directory (with ``queries.jsonl``), or ``builtin:seed`` for the seed set."""
    modalities: list[Modality] = Field(default_factory=lambda: ["image"], min_length=1)
    """How each query is put to each target: ``text`` (text alone), ``image`` (text with
    its image), ``audio`` (its speech, first voice), ``audio:<voice>`` (its speech in that
    voice, e.g. ``audio:female``), ``audio+text`` / ``audio+text:<voice>`` (the speech and the
    written text in one message). Queries lacking the media (or the voice) are skipped."""
    targets: list[TargetConfig] = Field(min_length=1)
    """The models under test."""
    jury: JuryConfig
    """The jury that judges every answer."""
    attack: AttackConfig | None = None
    """An attack applied to every query before it reaches the targets (``{name: template,
    params: {template: fiction}}``; ``safebench attacks`` lists them). The run evaluates the
    attacked queries, materialised beside the store; the stored queries record the attack."""
    store: Path | None = None
    """Where the run's SQLite store lives; rerunning with the same store resumes."""
    concurrency: int = Field(16, ge=1, le=4096)
    """Cases in flight at once (each runs its target call, then its deliberation). With
    ``workers`` > 1 this is the whole run's figure, shared out among the workers."""
    only_failed: bool = False
    """Ask only the cases the store holds as failed, and no case that never started
    (``safebench run --retry-failed``, the analogue of ``inspect eval-retry``); not part of
    the run's identity, so it resumes the same run."""
    workers: int = Field(1, ge=1, le=64)
    """Processes the run uses, each with its own event loop and model gateway (one event loop
    tops out near one core). Cases are sharded among them by a hash of the case id, all write
    the one store, and a rerun resumes with any number of workers. ``concurrency``, provider
    limits and target ``max_concurrency`` are split evenly among the workers."""
    limit: int | None = Field(None, ge=1)
    """Evaluate only the first ``limit`` queries of the dataset."""
    sample: SampleConfig | None = None
    """Evaluate a seeded, stratified sample of the queries instead of all (or the first
    ``limit``): ``{per_scenario: 2, seed: 0}`` or ``{total: 50, seed: 0}``
    (``generation/sampling.py``). Part of the run's identity: another sample is another run."""
    gateway: GatewaySettings = GatewaySettings()
    """Retries, timeouts and per-provider limits for every model call."""
    max_failure_rate: float = Field(0.5, gt=0, le=1)
    """Stop the run when more than this share of finished cases failed ..."""
    min_cases_before_abort: int = Field(20, ge=1)
    """... once at least this many cases have finished."""
    budget: BudgetConfig = BudgetConfig()
    """The most the run may spend (``{max_calls, max_usd}``); may change on resume."""
    executor: Literal["local", "ray"] = "local"
    """Where the cases run: ``local`` (this machine: one process, or ``workers``) or ``ray``
    (actors on a Ray cluster, set in ``ray``; needs ``pip install 'safebench[ray]'``). Not part
    of the run's identity: a run started on one resumes on the other."""
    ray: RayConfig = RayConfig()
    """The Ray cluster and actors of ``executor: ray``."""

    @model_validator(mode="after")
    def _one_way_to_shard(self) -> RunConfig:
        if self.executor == "ray" and self.workers > 1:
            raise ValueError(
                "executor: ray shards the cases over ray.num_workers actors; workers is for "
                "executor: local: set one of them"
            )
        return self

    @model_validator(mode="after")
    def _sample_or_limit(self) -> RunConfig:
        # The first N of a sample, or a sample of the first N, would each surprise someone.
        if self.sample is not None and self.limit is not None:
            raise ValueError("sample and limit choose the queries two ways: set one of them")
        return self

    @model_validator(mode="after")
    def _distinct_modalities(self) -> RunConfig:
        # A modality twice would run the same case ids twice at once.
        if len(set(self.modalities)) != len(self.modalities):
            twice = sorted({m for m in self.modalities if self.modalities.count(m) > 1})
            raise ValueError(f"modalities: {', '.join(twice)} given twice")
        return self

    @model_validator(mode="after")
    def _attack_reaches_every_modality(self) -> RunConfig:
        if self.attack is None:
            return self
        spec = ATTACKS.require(self.attack.name)
        missed = [m for m in self.modalities if not spec.reaches(m)]
        if missed:
            what = "the image" if spec.acts_on == "image" else "the written text"
            raise ValueError(
                f"attack {spec.name} changes {what}, which {', '.join(missed)} cases do not "
                f"send: they would measure nothing of the attack; "
                + (
                    "use modalities: [image]"
                    if spec.acts_on == "image"
                    else "use text, image or audio+text"
                )
            )
        return self

    @model_validator(mode="after")
    def _unique_targets(self) -> RunConfig:
        names = [t.display_name for t in self.targets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"targets share a name: {', '.join(duplicates)}; set name:")
        return self

    def store_path(self) -> Path:
        return self.store or Path("runs") / f"{self.name}.sqlite"

    def public_json(self) -> str:
        """The config as stored: secrets masked wherever they are (``api_key`` as SecretStr
        stars; credentials in an ``api_base`` or under a secret name in ``params``)."""
        data = json.loads(self.model_dump_json(exclude_none=True))
        return json.dumps(secrets.mask_secrets(data), separators=(",", ":"))


def load_run_config(
    path: Path,
    overrides: dict[str, Any] | None = None,
    *,
    targets: list[str] | None = None,
    jurors: list[str] | None = None,
) -> RunConfig:
    """Read and validate a run config, with errors naming the file and the field.

    ``targets`` and ``jurors`` (the command line's ``--target`` and ``--juror``, model
    strings) replace the config's lists; they are part of the run's identity as the YAML
    they replace would be."""
    data = read_yaml_mapping(
        path, "config file", "a run config is a mapping (name:, targets:, jury: …)"
    )
    data.update(overrides or {})
    if targets:
        data["targets"] = [{"model": model} for model in targets]
    if jurors:
        jury = data.get("jury")
        data["jury"] = {
            **(jury if isinstance(jury, dict) else {}),
            "jurors": [{"model": m} for m in jurors],
        }
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc, model=RunConfig)) from None


def load_jury_config(path: Path, *, jurors: list[str] | None = None) -> JuryConfig:
    """Read a jury file: the ``jury:`` mapping of a run config, or that mapping alone;
    ``jurors`` (the command line's ``--juror``) replace its jurors."""
    data: Any = read_yaml_mapping(
        path, "jury file", "a jury file is a mapping (jurors:, rounds:, voting: …)"
    )
    if isinstance(data.get("jury"), dict):
        data = data["jury"]  # a whole run config: take its jury
    if jurors:
        data = {**data, "jurors": [{"model": model} for model in jurors]}
    try:
        return JuryConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(path, exc, "jury", JuryConfig)
        ) from None
