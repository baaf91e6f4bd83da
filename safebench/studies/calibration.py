"""Calibrate a jury against people: each juror's blind vote and the jury's verdict, scored
against the human majority of a labelled set."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog

from agents.gateway import GatewaySettings
from jury.config import JuryConfig, jury_hash
from jury.labels import LabelledItem
from jury.metrics.confusion import Confusion
from safebench.studies.labelled_bench import ItemOutcome, OpenModels, open_bench
from safebench.studies.recorded import deliberate_labelled

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Disagreement:
    item: LabelledItem
    jury_says: bool | None


@dataclass(frozen=True)
class Seat:
    """Who sits in a seat: the same model reads differently under another persona."""

    seat: str
    model: str
    persona: str


@dataclass(frozen=True)
class CalibrationReport:
    """Agreement with the human majority: per juror (its blind vote) and for the jury."""

    store: Path
    jury: Confusion
    jurors: dict[str, Confusion]
    disagreements: list[Disagreement]
    calls: int
    cached: int
    baseline: Confusion = field(default_factory=Confusion)
    """Always answering the items' majority class: the figure every other one must beat."""
    seats: dict[str, Seat] = field(default_factory=dict)
    """Each ``jurors`` key's seat, model and persona."""
    seen: int = 0
    """Items some seat's model was trained on (``calibrate``'s ``seen``)."""
    unseen: Confusion | None = None
    """The jury on the other items, when some were seen: the held-out figure."""
    unseen_baseline: Confusion | None = None
    """The majority-class baseline on those items."""


def default_store(labels: Path, jury: JuryConfig) -> Path:
    return Path("runs") / f"calibrate-{labels.stem}-{jury_hash(jury)}.sqlite"


async def calibrate(
    items: Sequence[LabelledItem],
    jury: JuryConfig,
    store: Path,
    *,
    concurrency: int = 32,
    settings: GatewaySettings | None = None,
    open_models: OpenModels | None = None,
    advance: Callable[[], None] | None = None,
    seen: Callable[[LabelledItem], bool] | None = None,
) -> CalibrationReport:
    """Judge ``items`` with ``jury`` and score it (on the models ``open_models`` opens on
    ``store``, when given); ``advance`` is called as each item is judged. ``seen`` says
    which items a seat's model was trained on: the jury is then scored on the others too."""
    name = store.stem
    description = jury.model_dump_json(exclude_none=True)
    async with open_bench(store, name, description, settings, open_models=open_models) as bench:
        outcomes = await deliberate_labelled(
            bench,
            jury,
            items,
            prefix="calibrate",
            concurrency=concurrency,
            keep_cases=True,
            advance=advance,
        )
        stats = bench.gateway.stats
    report = CalibrationReport(
        store=store,
        jury=Confusion.of((o.verdict.harmful, o.item.label) for o in outcomes),
        jurors=_per_juror(jury, outcomes),
        disagreements=[
            Disagreement(o.item, o.verdict.harmful)
            for o in outcomes
            if o.verdict.harmful != o.item.label
        ],
        calls=stats.calls,
        cached=stats.cached,
        baseline=Confusion.majority_baseline(o.item.label for o in outcomes),
        seats=seats_of(jury),
    )
    held = [o for o in outcomes if seen is None or not seen(o.item)]
    if len(held) < len(outcomes):
        report = replace(
            report,
            seen=len(outcomes) - len(held),
            unseen=Confusion.of((o.verdict.harmful, o.item.label) for o in held),
            unseen_baseline=Confusion.majority_baseline(o.item.label for o in held),
        )
    log.info("calibrated", items=len(items), accuracy=report.jury.accuracy, store=str(store))
    return report


def seat_labels(jury: JuryConfig) -> dict[str, str]:
    return {f"juror-{i + 1}": f"juror-{i + 1} {j.model}" for i, j in enumerate(jury.jurors)}


def seats_of(jury: JuryConfig) -> dict[str, Seat]:
    """The seat, model and persona behind each of ``seat_labels``' labels."""
    labels = seat_labels(jury)
    return {
        labels[f"juror-{i + 1}"]: Seat(f"juror-{i + 1}", j.model, j.resolved_persona().name)
        for i, j in enumerate(jury.jurors)
    }


def _per_juror(jury: JuryConfig, outcomes: Sequence[ItemOutcome]) -> dict[str, Confusion]:
    # The blind (round 1) vote: what the juror thinks before anyone can sway it.
    labels = seat_labels(jury)
    return {
        label: Confusion.of(
            (
                next((v.harmful for v in o.votes if v.juror == seat and v.round == 1), None),
                o.item.label,
            )
            for o in outcomes
        )
        for seat, label in labels.items()
    }
