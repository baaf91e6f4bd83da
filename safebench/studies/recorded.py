"""Handing replayed and simulated jurors their recorded verdicts, as an argument of each call.

A ``safebench/replay/<column>`` juror answers with the verdict a real judge recorded on the
item, and a ``safebench/simulated/…`` juror knows the item's true label: both answer from a
table (``agents.offline_catalog.recorded_table``). Those verdicts belong to the study's own
items, so the study hands them over with the calls it makes: each such juror's spec carries
the verdict on the item it is judging as a completion parameter
(:data:`~agents.offline_catalog.RECORDED_VERDICT_PARAM`), which the offline provider passes to
the juror. Items are put before one jury per combination of handed verdicts (at most two per
such seat, usually one or two in all), so two studies in one process never see each other's
labels and nothing outside the call holds them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from agents.offline_catalog import RECORDED_VERDICT_PARAM, recorded_table
from agents.spec import ModelSpec
from jury.config import JuryConfig
from jury.labels import LabelledItem
from safebench.studies.labelled_bench import Bench, ItemOutcome, deliberate

S = TypeVar("S", bound=ModelSpec)

Handed = tuple[bool | None, ...]
"""The verdicts a jury's answering-from-records seats are handed on one item, seat by seat."""


def _seats(jury: JuryConfig) -> list[tuple[str, str]]:
    """(seat, table) of every seat (the foreperson included) that answers from a table."""
    seats = [(f"juror-{i + 1}", recorded_table(j.model)) for i, j in enumerate(jury.jurors)]
    if jury.foreperson is not None:
        seats.append(("foreperson", recorded_table(jury.foreperson.model)))
    return [(seat, table) for seat, table in seats if table is not None]


def _handing(spec: S, verdict: bool | None) -> S:
    params = {k: v for k, v in spec.params.items() if k != RECORDED_VERDICT_PARAM}
    if verdict is not None:
        params[RECORDED_VERDICT_PARAM] = verdict
    return spec.model_copy(update={"params": params})


def handed_jury(jury: JuryConfig, handed: dict[str, bool | None]) -> JuryConfig:
    """``jury`` with each seat named in ``handed`` carrying its verdict (None: none)."""
    jurors = [
        _handing(j, handed[f"juror-{i + 1}"]) if f"juror-{i + 1}" in handed else j
        for i, j in enumerate(jury.jurors)
    ]
    foreperson = jury.foreperson
    if foreperson is not None and "foreperson" in handed:
        foreperson = _handing(foreperson, handed["foreperson"])
    return jury.model_copy(update={"jurors": jurors, "foreperson": foreperson})


def handed_juries(
    jury: JuryConfig, items: Sequence[LabelledItem]
) -> list[tuple[JuryConfig, list[int]]]:
    """The juries to put ``items`` before, each with the indices of the items it judges: one
    per combination of verdicts its recorded-answering seats are handed (``jury`` itself, and
    every item, when no seat answers from records)."""
    seats = _seats(jury)
    if not seats:
        return [(jury, list(range(len(items))))]
    groups: dict[Handed, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(tuple(item.verdict(table) for _, table in seats), []).append(index)
    return [
        (handed_jury(jury, {seat: v for (seat, _), v in zip(seats, key, strict=True)}), indices)
        for key, indices in groups.items()
    ]


async def deliberate_labelled(
    bench: Bench,
    jury: JuryConfig,
    items: Sequence[LabelledItem],
    *,
    prefix: str,
    concurrency: int = 32,
    keep_cases: bool = False,
    advance: Callable[[], None] | None = None,
) -> list[ItemOutcome]:
    """:func:`~safebench.studies.labelled_bench.deliberate`, each juror that answers from
    recorded verdicts handed its verdict on each item; the outcomes come back in the order
    of ``items``."""
    outcomes: list[ItemOutcome | None] = [None] * len(items)
    # One jury after the other: ``concurrency`` stays the most items judged at once.
    for handed, indices in handed_juries(jury, items):
        judged = await deliberate(
            bench,
            handed,
            [items[i] for i in indices],
            prefix=prefix,
            concurrency=concurrency,
            keep_cases=keep_cases,
            advance=advance,
        )
        for index, outcome in zip(indices, judged, strict=True):
            outcomes[index] = outcome
    return [o for o in outcomes if o is not None]
