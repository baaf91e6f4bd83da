"""Jury experiments: sweep jury size, juror mix, voting rule, rounds and protocol over a
labelled set, and score every configuration against the human majority.

A configuration with no deliberation (``rounds: 0``, no foreperson) only needs each juror's
blind vote, and a blind vote does not depend on who else sits: so each juror judges each item
once (through the courtroom, as a one-seat jury) and every such panel is reduced from those
votes with the configured rule. Configurations that deliberate run their whole panel
through the courtroom, since there every vote depends on the others.
"""

from __future__ import annotations

import itertools
import random
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.spec import ModelSpec
from jury.config import JurorConfig, JuryConfig, VotingConfig
from jury.labels import LabelFormat, LabelledItem, load_labels, load_run_items
from jury.metrics.confusion import Confusion
from jury.voting import build_rule
from kernel.errors import ConfigError
from kernel.records import Vote
from kernel.validation import format_validation_error
from kernel.yamlread import load_yaml
from safebench.studies.labelled_bench import Bench, ItemOutcome, OpenModels, open_bench
from safebench.studies.recorded import deliberate_labelled

log = structlog.get_logger(__name__)

Protocol = Literal["simultaneous", "round_robin"]


class LabelSource(BaseModel):
    """Where the labelled items come from."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    """A labelled set (GPTFuzz CSV, HarmBench val JSON, or a generic CSV/JSON); a relative
    path is read relative to the spec file."""
    format: LabelFormat = "auto"
    """How to read it; ``auto`` tells by the file's suffix and header."""
    limit: int | None = Field(None, ge=1)
    """Use only the first ``limit`` items."""


class ExperimentSpec(BaseModel):
    """A sweep of jury configurations over one labelled set."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    """The experiment's name; its store is ``runs/experiment-<name>.sqlite``."""
    labels: LabelSource | None = None
    """The human-labelled items every configuration is scored on."""
    run: Path | None = None
    """Instead of ``labels``: a stored run, whose judged answers are the items and whose
    verdicts are the reference (agreement with that run's jury, not with people); a relative
    path is read relative to the spec file."""
    pool: dict[str, str | JurorConfig] = Field(min_length=1)
    """Jurors to draw panels from: a short name -> a model string (any litellm model, or
    ``safebench/replay/<column>``, ``safebench/simulated/<options>``, …) or a whole seat as
    in a jury config (``{model, api_base, params, format, …}``: a published judge asked in
    its format, say)."""
    sizes: list[int] = Field(default_factory=list)
    """Jury sizes to sweep: every panel of that size drawn from the pool (see
    ``max_panels``)."""
    panels: list[list[str]] = Field(default_factory=list)
    """Explicit panels (lists of pool names), swept besides those of ``sizes``."""
    max_panels: int | None = Field(None, ge=1)
    """At most this many panels per size, drawn at random (with ``seed``) when there are
    more."""
    seed: int = 0
    """Seed of the panel draw."""
    rules: list[VotingConfig] = Field(default_factory=lambda: [VotingConfig()])
    """Voting rules to sweep (a rule that does not fit a panel, e.g. k above its size, is
    left out for that panel)."""
    rounds: list[int] = Field(default_factory=lambda: [0])
    """Deliberation rounds to sweep."""
    protocols: list[Protocol] = Field(default_factory=lambda: ["simultaneous"])
    """Deliberation protocols to sweep (only matters when rounds > 0)."""
    early_stop: list[Literal["no_change", "consensus"]] = Field(
        default_factory=lambda: ["no_change", "consensus"]
    )
    """The early-stop conditions every deliberating configuration uses."""
    foreperson: str | None = None
    """A foreperson model for every configuration (needed by ``foreperson_decides``)."""
    select_by: Literal["accuracy", "kappa", "f1"] = "accuracy"
    """The score that names the best configuration (ties: fewer calls per verdict)."""
    concurrency: int = Field(64, ge=1)
    """Items deliberated at once."""

    def seat(self, name: str) -> JurorConfig:
        """The pool's juror ``name`` as a seat of a jury."""
        entry = self.pool[name]
        return entry if isinstance(entry, JurorConfig) else JurorConfig(model=entry)

    def pool_models(self) -> list[str]:
        """The pool's model strings, in pool order."""
        return [self.seat(name).model for name in self.pool]

    @model_validator(mode="after")
    def _panels_known(self) -> ExperimentSpec:
        if (self.labels is None) == (self.run is None):
            raise ValueError("give either labels or run (the items to score on), not both")
        for panel in self.panels:
            unknown = [n for n in panel if n not in self.pool]
            if unknown:
                raise ValueError(f"panel {panel} names jurors not in the pool: {unknown}")
        if any(s < 1 or s > len(self.pool) for s in self.sizes):
            raise ValueError(f"sizes must lie between 1 and the pool's {len(self.pool)}")
        if not self.sizes and not self.panels:
            raise ValueError("give sizes, panels, or both")
        return self


def with_labels(spec: ExperimentSpec, labels: Path) -> ExperimentSpec:
    """``spec`` scored on another labelled set (read as ``auto``; the spec's ``limit``
    kept), in place of its ``labels`` or ``run``: one sweep, measured on several sets."""
    limit = spec.labels.limit if spec.labels is not None else None
    source = LabelSource(path=labels.resolve(), limit=limit)
    return spec.model_copy(update={"labels": source, "run": None})


def with_overrides(
    spec: ExperimentSpec,
    *,
    jurors: list[str] | None = None,
    limit: int | None = None,
    concurrency: int | None = None,
) -> ExperimentSpec:
    """``spec`` with the command line's ``--juror`` (a pool of these models, named ``j1``,
    ``j2`` …; the spec's sizes larger than the pool are dropped), ``--limit`` (items of the
    labelled set) and ``--concurrency``."""
    update: dict[str, Any] = {}
    if jurors:
        update["pool"] = {f"j{i + 1}": model for i, model in enumerate(jurors)}
        sizes = [size for size in spec.sizes if size <= len(jurors)]
        update["sizes"] = sizes or [len(jurors)]
    if limit is not None and spec.labels is not None:
        update["labels"] = spec.labels.model_copy(update={"limit": limit})
    if concurrency is not None:
        update["concurrency"] = concurrency
    return ExperimentSpec.model_validate({**spec.model_dump(), **update}) if update else spec


def load_experiment(path: Path) -> ExperimentSpec:
    try:
        # Bounded: an alias bomb is refused, not expanded.
        data = load_yaml(path.read_text(encoding="utf-8"), path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such experiment spec") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the experiment spec: {exc}") from None
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(path, exc, "spec", ExperimentSpec)
        ) from None
    if spec.labels is not None and not spec.labels.path.is_absolute():
        spec.labels.path = (path.parent / spec.labels.path).resolve()
    if spec.run is not None and not spec.run.is_absolute():
        spec.run = (path.parent / spec.run).resolve()
    return spec


@dataclass(frozen=True)
class Configuration:
    """One point of the sweep."""

    panel: tuple[str, ...]
    rule: VotingConfig
    rounds: int
    protocol: Protocol

    @property
    def label(self) -> str:
        options = ",".join(f"{k}={v}" for k, v in self.rule.options().items())
        rule = f"{self.rule.rule}({options})" if options else self.rule.rule
        how = f"r{self.rounds}" + (f"/{self.protocol}" if self.rounds else "")
        return f"[{'+'.join(self.panel)}] {rule} {how}"


@dataclass(frozen=True)
class ResultRow:
    """A configuration's agreement with people, and its cost."""

    config: Configuration
    confusion: Confusion
    calls_per_verdict: float

    @property
    def size(self) -> int:
        return len(self.config.panel)

    def score(self, metric: str) -> float:
        return float(getattr(self.confusion, metric))


@dataclass(frozen=True)
class ExperimentResult:
    spec: ExperimentSpec
    rows: list[ResultRow]
    best: ResultRow
    items: int
    model_calls: int
    cached_calls: int
    baseline: Confusion = field(default_factory=Confusion)
    """Always answering the items' majority class: the floor every row must clear."""


def load_items(spec: ExperimentSpec, *, strict: bool = False) -> list[LabelledItem]:
    """The spec's items; ``strict``: a HarmBench behaviour with no text is an error."""
    if spec.labels is not None:
        return load_labels(spec.labels.path, spec.labels.format, spec.labels.limit, strict=strict)
    assert spec.run is not None
    return load_run_items(spec.run)


def panels_of(spec: ExperimentSpec) -> list[tuple[str, ...]]:
    names = list(spec.pool)
    rng = random.Random(spec.seed)
    chosen: list[tuple[str, ...]] = []
    for size in spec.sizes:
        combos = list(itertools.combinations(names, size))
        if spec.max_panels is not None and len(combos) > spec.max_panels:
            combos = sorted(rng.sample(combos, spec.max_panels))
        chosen.extend(combos)
    chosen.extend(tuple(p) for p in spec.panels)
    return list(dict.fromkeys(chosen))  # keep order, drop repeats


def configurations(spec: ExperimentSpec) -> list[Configuration]:
    found: list[Configuration] = []
    for panel in panels_of(spec):
        for rule in spec.rules:
            try:
                build_rule(rule, jury_size=len(panel))
            except ValueError:
                continue  # e.g. supermajority k=4 for a trio
            for rounds in spec.rounds:
                if rounds and len(panel) == 1:
                    continue  # a lone juror has nobody to deliberate with
                # Without deliberation the protocol changes nothing: one row, not two.
                protocols = spec.protocols if rounds else spec.protocols[:1]
                found.extend(Configuration(panel, rule, rounds, p) for p in protocols)
    return found


class StudyProgress(typing.Protocol):
    """Where a sweep reports progress (the CLI draws a bar): the items to judge, then each."""

    def start(self, total: int) -> None: ...

    def advance(self) -> None: ...


def _blind(spec: ExperimentSpec, configs: Sequence[Configuration]) -> list[Configuration]:
    """Configurations reduced from the jurors' one-seat blind votes (see the module doc)."""
    return [c for c in configs if c.rounds == 0 and spec.foreperson is None]


def deliberations(spec: ExperimentSpec, configs: Sequence[Configuration]) -> int:
    """How many juries ``_score_all`` puts every item before: one per juror voting blind,
    one per deliberating (panel, rounds, protocol), or per configuration with a foreperson."""
    blind = _blind(spec, configs)
    solo = {name for c in blind for name in c.panel}
    rest = [c for c in configs if c not in blind]
    if spec.foreperson is not None:
        return len(solo) + len(rest)
    return len(solo) + len({(c.panel, c.rounds, c.protocol) for c in rest})


def jury_for(spec: ExperimentSpec, config: Configuration) -> JuryConfig:
    return JuryConfig(
        jurors=[spec.seat(name) for name in config.panel],
        rounds=config.rounds,
        protocol=config.protocol,
        voting=config.rule,
        early_stop=spec.early_stop,
        foreperson=ModelSpec(model=spec.foreperson) if spec.foreperson else None,
    )


async def run_experiment(
    spec: ExperimentSpec,
    store: Path | None = None,
    items: list[LabelledItem] | None = None,
    open_models: OpenModels | None = None,
    progress: StudyProgress | None = None,
) -> ExperimentResult:
    """Score every configuration of ``spec``; calls are cached in the experiment's store
    (on the models ``open_models`` opens there, when given); ``progress`` hears of each
    item judged."""
    items = items if items is not None else load_items(spec)
    configs = configurations(spec)
    if not configs:
        raise ConfigError(f"experiment {spec.name}: no configuration fits (check rules/sizes)")
    store = store or Path("runs") / f"experiment-{spec.name}.sqlite"
    name = f"experiment-{spec.name}"
    async with open_bench(store, name, spec.model_dump_json(), open_models=open_models) as bench:
        if progress is not None:
            progress.start(deliberations(spec, configs) * len(items))
        advance = progress.advance if progress is not None else None
        rows = await _score_all(bench, spec, configs, items, advance)
        stats = bench.gateway.stats
    best = max(rows, key=lambda r: (r.score(spec.select_by), -r.calls_per_verdict))
    log.info("experiment_done", name=spec.name, configurations=len(rows), best=best.config.label)
    baseline = Confusion.majority_baseline(item.label for item in items)
    return ExperimentResult(
        spec, rows, best, len(items), stats.calls, stats.cached, baseline=baseline
    )


async def _score_all(
    bench: Bench,
    spec: ExperimentSpec,
    configs: list[Configuration],
    items: list[LabelledItem],
    advance: Callable[[], None] | None = None,
) -> list[ResultRow]:
    blind = _blind(spec, configs)
    solo: dict[str, list[ItemOutcome]] = {}
    for name in sorted({n for c in blind for n in c.panel}):
        one_seat = JuryConfig(jurors=[spec.seat(name)], rounds=0)
        solo[name] = await deliberate_labelled(
            bench,
            one_seat,
            items,
            prefix=f"solo/{name}",
            concurrency=spec.concurrency,
            advance=advance,
        )
    # The rule only reduces the final votes: under one panel, rounds and protocol every rule
    # sees the same deliberation, so it is held once (unless a foreperson decides).
    deliberated: dict[tuple[tuple[str, ...], int, str], list[ItemOutcome]] = {}
    rows: list[ResultRow] = []
    for config in configs:
        if config in blind:
            rows.append(_from_blind_votes(config, solo, items))
            continue
        group = (config.panel, config.rounds, config.protocol)
        if group not in deliberated or spec.foreperson is not None:
            deliberated[group] = await deliberate_labelled(
                bench,
                jury_for(spec, config),
                items,
                prefix=config.label,
                concurrency=spec.concurrency,
                advance=advance,
            )
            rows.append(_from_verdicts(config, deliberated[group]))
        else:
            rows.append(_from_final_votes(config, deliberated[group]))
    return rows


def _from_verdicts(config: Configuration, outcomes: list[ItemOutcome]) -> ResultRow:
    return ResultRow(
        config,
        Confusion.of((o.verdict.harmful, o.item.label) for o in outcomes),
        sum(o.calls for o in outcomes) / max(1, len(outcomes)),
    )


def _from_final_votes(config: Configuration, outcomes: list[ItemOutcome]) -> ResultRow:
    rule = build_rule(config.rule, jury_size=len(config.panel))
    pairs: list[tuple[bool | None, bool]] = []
    for outcome in outcomes:
        final: dict[str, Vote] = {}
        for vote in outcome.votes:  # in round order: the last one per seat is its final vote
            final[vote.juror] = vote
        pairs.append((rule.decide(list(final.values()), None).harmful, outcome.item.label))
    calls = sum(o.calls for o in outcomes) / max(1, len(outcomes))
    return ResultRow(config, Confusion.of(pairs), calls)


def _from_blind_votes(
    config: Configuration, solo: dict[str, list[ItemOutcome]], items: Sequence[LabelledItem]
) -> ResultRow:
    rule = build_rule(config.rule, jury_size=len(config.panel))
    pairs: list[tuple[bool | None, bool]] = []
    calls = 0
    for index, item in enumerate(items):
        votes: list[Vote] = []
        for seat, name in enumerate(config.panel):
            outcome = solo[name][index]
            calls += outcome.calls
            votes.extend(v.model_copy(update={"juror": f"juror-{seat + 1}"}) for v in outcome.votes)
        pairs.append((rule.decide(votes, None).harmful, item.label))
    return ResultRow(config, Confusion.of(pairs), calls / max(1, len(items)))
