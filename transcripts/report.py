"""The report's data: typed scores, agreement and cost, for one run or several side by side.

Everything the HTML, Markdown and CSV outputs show is assembled here from the stores, so the
three outputs cannot disagree, and none of them reads a store itself.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel

from jury.agreement import AbstentionStats, RoundAgreement, abstention_stats, rounds_agreement
from jury.metrics import Score, group_scores, score
from safebench.core.errors import StoreError
from safebench.core.records import Verdict, Vote
from transcripts.search import CaseSummary, case_summaries
from transcripts.store import CaseMeta, RunStore

DIMENSIONS = ("category", "scenario", "modality")
"""The groupings each target's scores are broken down by."""


# The report's cells are the metrics' own typed scores.
ScoreCell = Score


class CallStats(BaseModel):
    """What the run spent: model calls, tokens and cost, in all and per verdict."""

    calls: int
    errors: int
    by_role: dict[str, int]
    """Calls per role: target, juror, foreperson."""
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    verdicts: int
    calls_per_verdict: float | None
    tokens_per_verdict: float | None
    cost_per_verdict_usd: float | None


class AuditCase(BaseModel):
    """A case worth a look (the jury split), with the start of what was judged."""

    case: CaseSummary
    answer: str
    """The target's answer, cut to ``EXCERPT_CHARS``: hostile text, escaped wherever shown."""
    summary: str
    """The foreperson's summary."""


EXCERPT_CHARS = 600
AUDIT_CASES = 50
"""At most this many split cases are listed per run; the viewer lists them all."""


class RunReport(BaseModel):
    name: str
    path: str
    status: str
    label: str
    """How the run is named in side-by-side tables (its name, or name + file when clashing)."""
    cases: dict[str, int]
    """Cases per status (judged, skipped, failed)."""
    targets: list[str]
    scenario_categories: dict[str, str]
    """Which category each scenario belongs to."""
    overall: dict[str, ScoreCell]
    """Per target, over all its judged cases."""
    breakdown: dict[str, dict[str, dict[str, ScoreCell]]]
    """dimension -> target -> group (category, scenario or modality) -> score."""
    rounds: list[RoundAgreement]
    abstentions: AbstentionStats
    answers: dict[str, int] = {}
    """Judged answers that were ``truncated`` (cut by the target's token limit, judged as
    they stand) or ``refused`` (the target's provider refused with no content)."""
    calls: CallStats
    disagreements: int
    """Cases where the jury split at some round."""
    audit: list[AuditCase]
    """The split cases, most flips first, up to ``AUDIT_CASES``."""
    rubrics: dict[str, int] = {}
    """Votes per rubric (``name@version``) the jurors judged by; votes stored before rubrics
    were recorded count under ``UNRECORDED_RUBRIC``."""


class Report(BaseModel):
    runs: list[RunReport]
    categories: list[str]
    """Every category seen, in the order the tables use."""


def _role(scope: str) -> str:
    # Scopes are "<case_id>/<seat>"; case ids may themselves hold slashes (model names).
    seat = scope.rsplit("/", 1)[-1]
    return "juror" if seat.startswith("juror") else seat


def call_stats(store: RunStore, verdicts: int) -> CallStats:
    calls = errors = prompt = completion = 0
    cost = 0.0
    by_role: dict[str, int] = defaultdict(int)
    for call in store.iter_calls():
        calls += 1
        errors += int(call.status != "ok")
        by_role[_role(call.scope)] += 1
        prompt += call.usage.prompt_tokens
        completion += call.usage.completion_tokens
        cost += call.cost_usd

    def per(value: float) -> float | None:
        return value / verdicts if verdicts else None

    return CallStats(
        calls=calls,
        errors=errors,
        by_role=dict(sorted(by_role.items())),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        verdicts=verdicts,
        calls_per_verdict=per(calls),
        tokens_per_verdict=per(prompt + completion),
        cost_per_verdict_usd=per(cost),
    )


def _breakdown(
    judged: Sequence[tuple[CaseMeta, Verdict]], dimension: str
) -> dict[str, dict[str, ScoreCell]]:
    scores = group_scores(((m.target, getattr(m, dimension)), v) for m, v in judged)
    out: dict[str, dict[str, ScoreCell]] = defaultdict(dict)
    for (target, group), s in sorted(scores.items()):
        out[target][group] = s
    return dict(out)


def answer_flags(store: RunStore, judged: set[str]) -> dict[str, int]:
    """How many judged answers were truncated and how many were provider refusals (failed
    and unfinished cases are not counted: their answers were never judged)."""
    counts = {"truncated": 0, "refused": 0}
    for answer in store.iter_answers():
        if answer.case_id not in judged:
            continue
        counts["truncated"] += int(answer.truncated)
        counts["refused"] += int(answer.refused)
    return counts


UNRECORDED_RUBRIC = "safebench (unrecorded)"
"""Votes from stores written before votes named their rubric: all were judged by today's
``safebench`` instructions, but the vote does not say which version."""


def rubric_counts(votes: Iterable[Vote]) -> dict[str, int]:
    """How many votes were cast under each rubric, most used first."""
    counts = Counter(v.rubric or UNRECORDED_RUBRIC for v in votes)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def run_report(store: RunStore, label: str | None = None) -> RunReport:
    info = store.run_info()
    judged = list(store.judged())
    by_target: dict[str, list[Verdict]] = defaultdict(list)
    for meta, verdict in judged:
        by_target[meta.target].append(verdict)
    rows = list(store.iter_cases())
    targets = sorted({c.target for c in rows})
    votes = list(store.iter_votes())
    split = [c for c in case_summaries(store) if c.disagreement]
    split.sort(key=lambda c: (-c.flips, c.case_id))
    return RunReport(
        name=info["name"],
        path=str(store.path),
        status=info["status"],
        label=label or info["name"],
        cases=store.status_counts(),
        targets=targets,
        scenario_categories={c.scenario: c.category for c in rows},
        overall={t: score(by_target.get(t, [])) for t in targets},
        breakdown={d: _breakdown(judged, d) for d in DIMENSIONS},
        rounds=rounds_agreement(votes),
        abstentions=abstention_stats(votes),
        answers=answer_flags(store, {meta.case_id for meta, _ in judged}),
        calls=call_stats(store, len(judged)),
        disagreements=len(split),
        audit=[_audit_case(store, c) for c in split[:AUDIT_CASES]],
        rubrics=rubric_counts(votes),
    )


def _audit_case(store: RunStore, case: CaseSummary) -> AuditCase:
    answer = store.get_answer(case.case_id)
    verdict = store.get_verdict(case.case_id)
    text = answer.text if answer else ""
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS] + " …"
    return AuditCase(case=case, answer=text, summary=verdict.summary if verdict else "")


def _labels(names: Sequence[str], paths: Sequence[Path]) -> list[str]:
    # Two runs of the same config share a name; the file tells them apart side by side.
    clash = {n for n in names if names.count(n) > 1}
    labels = [f"{n} ({p.name})" if n in clash else n for n, p in zip(names, paths, strict=True)]
    # The same file given twice still needs two distinct labels.
    return [
        f"{label} #{i + 1}" if labels.count(label) > 1 else label for i, label in enumerate(labels)
    ]


def build_report(paths: Iterable[Path]) -> Report:
    """Read each run store (opened read-only: nothing is written) and assemble the report."""
    paths = [Path(p) for p in paths]
    runs: list[RunReport] = []
    for path in paths:
        if not path.is_file():
            raise StoreError(f"{path}: no such run store (a .sqlite file written by `run`)")
    names: list[str] = []
    for path in paths:
        with RunStore.open_readonly(path) as store:
            names.append(store.run_info()["name"])
    for path, label in zip(paths, _labels(names, paths), strict=True):
        with RunStore.open_readonly(path) as store:
            runs.append(run_report(store, label))
    categories = sorted(
        {g for run in runs for groups in run.breakdown["category"].values() for g in groups}
    )
    return Report(runs=runs, categories=categories)
