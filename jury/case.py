"""Judging one case: the one function every path that puts an answer before a jury ends in.

A run (one process, worker processes, Ray actors), ``safebench rejudge``, ``calibrate`` and
``experiment`` all call :func:`judge_case`. What a jury is shown is decided here and only
here: the request (an attacked query's *original* text, never the attack's wording), the
answer, the case's media, and the nonce that binds the ballot to the case. A provider's
refusal with no content is a verdict with no juror asked; a juror that cannot be reached
fails the case, recorded; a bug in one case fails that case, not the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog

from jury.courtroom import Courtroom, JurorFailed, provider_refusal_verdict
from jury.prompts import CaseFile
from kernel.ballot import case_nonce
from kernel.records import Modality, Query, TargetAnswer, Verdict, Vote, modality_kind
from transcripts.store import CaseMeta

log = structlog.get_logger(__name__)

StopCheck = Callable[[BaseException], BaseException | None]
"""Given what a case raised, the run-wide stop behind it (a spent budget) or None: a stop
ends the run there, where any other exception only fails its case."""


class CaseSink(Protocol):
    """Where a judged or failed case is saved: a run's store, or (on Ray) the store writer's
    proxy of one."""

    def save_judged(
        self, meta: CaseMeta, answer: TargetAnswer, votes: list[Vote], verdict: Verdict
    ) -> None: ...

    def save_failed(self, meta: CaseMeta, error: str, answer: TargetAnswer | None) -> None: ...


@dataclass(frozen=True)
class CaseOutcome:
    """What judging one case came to; already saved when a store was given."""

    status: Literal["judged", "failed"]
    votes: tuple[Vote, ...] = ()
    verdict: Verdict | None = None
    error: str | None = None
    """Why the case failed (``jury: …``), on a failed case."""


def request_of(query: Query) -> str:
    """The request a jury judges an answer against: what was really asked. An attack's
    wrapping (a typographic prompt's "fill in the list", a persuasive rewording) is not the
    request, so an attacked query is judged against its original text."""
    return query.attack.original_text if query.attack is not None else query.text


def case_media(query: Query, modality: Modality, root: Path | None) -> dict[str, Any]:
    """The ``CaseFile`` media fields of a case: the image of an image case, the speech in the
    case's voice of an audio case, as the target got them (a text case shows jurors no media)."""
    ref = query.media_for(modality)
    if ref is None:
        return {}
    if root is None:
        # The store names no dataset root (a re-judged legacy run): jurors that accept
        # media judge this case from the text alone, and the log says so.
        log.warning("juror_media_unavailable", query=query.id, modality=modality)
        return {}
    return {"media_root": root, modality_kind(modality): ref}


def case_file(
    meta: CaseMeta, query: Query, answer: TargetAnswer, salt: str, media_root: Path | None
) -> CaseFile:
    """The case as the jury sees it."""
    return CaseFile(
        case_id=meta.case_id,
        nonce=case_nonce(salt, meta.case_id),
        category=meta.category,
        scenario=meta.scenario,
        modality=meta.modality,  # type: ignore[arg-type]
        request=request_of(query),
        answer=answer.text,
        **case_media(query, meta.modality, media_root),  # type: ignore[arg-type]
    )


async def judge_case(
    courtroom: Courtroom,
    meta: CaseMeta,
    query: Query,
    answer: TargetAnswer,
    *,
    salt: str,
    media_root: Path | None,
    store: CaseSink | None,
    stop: StopCheck | None = None,
) -> CaseOutcome:
    """Judge ``answer`` (an ``ok`` answer to ``query``) and save the outcome in ``store``
    (None: a study that keeps no cases). Raises only what ``stop`` names a run-wide stop."""
    if answer.refused:
        # The target's provider refused with no content: that is the target refusing, a
        # safe outcome the jury has nothing to read in; never a blank "answer" to judge.
        verdict = provider_refusal_verdict(meta.case_id)
        if store is not None:
            store.save_judged(meta, answer, [], verdict)
        return CaseOutcome("judged", (), verdict)
    try:
        deliberation = await courtroom.judge(case_file(meta, query, answer, salt, media_root))
    except JurorFailed as exc:
        return _failed(store, meta, answer, f"jury: {exc}")
    except Exception as exc:  # a bug or a broken provider must not end the whole run
        if stop is not None and (reason := stop(exc)) is not None:
            raise reason from exc  # not this case's failure: the run stops here
        log.exception("case_failed", case=meta.case_id)
        return _failed(store, meta, answer, f"jury: {type(exc).__name__}: {exc}")
    verdict = deliberation.verdict
    assert verdict is not None
    if store is not None:
        store.save_judged(meta, answer, deliberation.votes, verdict)
    return CaseOutcome("judged", tuple(deliberation.votes), verdict)


def _failed(
    store: CaseSink | None, meta: CaseMeta, answer: TargetAnswer, error: str
) -> CaseOutcome:
    if store is not None:
        store.save_failed(meta, error, answer)
    return CaseOutcome("failed", error=error)
