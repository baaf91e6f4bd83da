"""The report's data: typed scores, agreement and cost, for one run or several side by side.

Everything the HTML, Markdown and CSV outputs show is assembled here from the stores, so the
three outputs cannot disagree, and none of them reads a store itself.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel

from jury.metrics.agreement import (
    AbstentionStats,
    RoundAgreement,
    abstention_stats,
    fleiss_kappa,
    harm_table,
    rounds_agreement,
)
from jury.metrics.scores import Score, group_scores, score
from kernel.errors import StoreError
from kernel.records import Verdict, Vote
from safebench.audit.search import CaseSummary, case_summaries
from safebench.audit.stored_config import StoredConfig
from safebench.audit.strongreject import MeanScore, strongreject_scores
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
    priced_calls: int = 0
    """Calls litellm's price map priced; the others (offline, local models) are not in the
    cost."""


class VoteSplit(BaseModel):
    """How one round of a case's votes fell."""

    round: int
    harmful: int
    voting: int
    """Jurors that voted (abstentions left out)."""
    abstained: int = 0

    @property
    def text(self) -> str:
        out = f"{self.harmful} of {self.voting} harmful"
        return out + (f", {self.abstained} abstained" if self.abstained else "")


def vote_split(votes: Iterable[Vote], round_no: int) -> VoteSplit:
    cast = [v for v in votes if v.round == round_no]
    return VoteSplit(
        round=round_no,
        harmful=sum(v.harmful is True for v in cast),
        voting=sum(v.harmful is not None for v in cast),
        abstained=sum(v.abstained for v in cast),
    )


class AuditCase(BaseModel):
    """A case worth a look (the jury split), with the start of what was judged."""

    case: CaseSummary
    blind: VoteSplit | None = None
    """The blind vote (round 1): the split that sent the case to deliberation."""
    final: VoteSplit | None = None
    """The last round held: the votes the verdict was reduced from."""
    answer: str
    """The target's answer, cut to ``EXCERPT_CHARS``: hostile text, escaped wherever shown."""
    summary: str
    """The foreperson's summary."""


class CohortRound(BaseModel):
    round: int
    kappa: float | None
    """Fleiss' kappa of the cohort's votes in this round."""
    agreement: float | None
    """Observed agreement: the share of juror pairs that voted alike, averaged over cases."""


class Cohort(BaseModel):
    """The same cases followed across rounds: those that reached round ``reached``.

    Per-round kappa over all the cases that held each round compares different case sets
    (round 2 holds only the contested ones); a cohort compares like with like."""

    reached: int
    cases: int
    rounds: list[CohortRound]
    """Rounds 1..``reached``, each over the cohort's cases only."""


def observed_agreement(table: Sequence[Sequence[int]]) -> float | None:
    """Mean over cases (with two or more votes) of the share of vote pairs that agree."""
    shares = [
        (sum(c * c for c in row) - sum(row)) / (sum(row) * (sum(row) - 1))
        for row in table
        if sum(row) >= 2
    ]
    return sum(shares) / len(shares) if shares else None


def _by_case_round(votes: Iterable[Vote]) -> dict[str, dict[int, list[Vote]]]:
    grouped: dict[str, dict[int, list[Vote]]] = defaultdict(lambda: defaultdict(list))
    for vote in votes:
        grouped[vote.case_id][vote.round].append(vote)
    return grouped


def cohorts(votes: Iterable[Vote]) -> list[Cohort]:
    """For each round R held, the cases that reached R, with their agreement in rounds 1..R
    (R = 1: every case's blind vote)."""
    grouped = _by_case_round(votes)
    last = max((r for rounds in grouped.values() for r in rounds), default=0)
    out: list[Cohort] = []
    for reached in range(1, last + 1):
        members = [rounds for rounds in grouped.values() if rounds.get(reached)]
        per_round = []
        for round_no in range(1, reached + 1):
            table = harm_table(v for rounds in members for v in rounds.get(round_no, []))
            per_round.append(
                CohortRound(
                    round=round_no,
                    kappa=fleiss_kappa(table),
                    agreement=observed_agreement(table),
                )
            )
        out.append(Cohort(reached=reached, cases=len(members), rounds=per_round))
    return out


class FlipRate(BaseModel):
    """Vote changes in one deliberation round, per juror that could change."""

    round: int
    flips: int
    juror_rounds: int
    """Jurors that voted (not abstained) in this round and the one before: who could flip."""

    @property
    def rate(self) -> float | None:
        return self.flips / self.juror_rounds if self.juror_rounds else None


def flip_rates(votes: Iterable[Vote]) -> list[FlipRate]:
    """Per deliberation round (2..), flips over juror-rounds: comparable across jury sizes."""
    grouped = _by_case_round(votes)
    last = max((r for rounds in grouped.values() for r in rounds), default=0)
    out: list[FlipRate] = []
    for round_no in range(2, last + 1):
        flips = eligible = 0
        for rounds in grouped.values():
            before = {v.juror: v.harmful for v in rounds.get(round_no - 1, [])}
            for vote in rounds.get(round_no, []):
                was = before.get(vote.juror)
                if vote.harmful is None or was is None:
                    continue
                eligible += 1
                flips += int(vote.harmful != was)
        out.append(FlipRate(round=round_no, flips=flips, juror_rounds=eligible))
    return out


class JurySummary(BaseModel):
    """Who judged a run and how, as its stored config says."""

    size: int
    models: list[str]
    """Each seat's model, in seat order."""
    personas: list[str]
    rule: str
    """The voting rule with its options, e.g. ``supermajority(k=4)``."""
    rounds: int | None
    protocol: str | None
    foreperson: str | None

    @property
    def text(self) -> str:
        counts = Counter(self.models)
        models = ", ".join(f"{n}× {m}" if n > 1 else m for m, n in counts.items())
        rounds = "?" if self.rounds is None else str(self.rounds)
        how = f"{rounds} round(s)" + (f" {self.protocol}" if self.rounds and self.protocol else "")
        return f"{self.size} jurors ({models}); {self.rule}; {how}"


def jury_summary(config: StoredConfig) -> JurySummary | None:
    """The jury of a stored config (None when it names none, e.g. an experiment's store)."""
    jury = config.jury
    if jury is None or not jury.seats:
        return None
    rule = jury.rule
    if jury.voting_options:
        rule += "(" + ",".join(f"{k}={v}" for k, v in jury.voting_options.items()) + ")"
    return JurySummary(
        size=len(jury.seats),
        models=[s.model for s in jury.seats.values()],
        personas=[s.persona for s in jury.seats.values()],
        rule=rule,
        rounds=jury.rounds,
        protocol=jury.protocol,
        foreperson=jury.foreperson,
    )


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
    cohorts: list[Cohort] = []
    """Agreement on the same cases across rounds (see :class:`Cohort`)."""
    flip_rates: list[FlipRate] = []
    jury: JurySummary | None = None
    """The run's jury as configured (None when its store names none)."""
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
    budget: dict[str, float] = {}
    """The run's budget as last configured (``max_calls``, ``max_usd``), when it set one."""
    strongreject: dict[str, dict[str, MeanScore]] = {}
    """target -> scenario (and ``all``) -> the mean StrongREJECT score with its 95% interval,
    where jurors judged by that rubric (``safebench.audit.strongreject``); else empty."""


class Report(BaseModel):
    runs: list[RunReport]
    categories: list[str]
    """Every category seen, in the order the tables use."""


def _role(scope: str) -> str:
    # Scopes are "<case_id>/<seat>"; case ids may themselves hold slashes (model names).
    seat = scope.rsplit("/", 1)[-1]
    return "juror" if seat.startswith("juror") else seat


def call_stats(store: RunStore, verdicts: int) -> CallStats:
    calls = errors = prompt = completion = priced = 0
    cost = 0.0
    by_role: dict[str, int] = defaultdict(int)
    for call in store.iter_calls():
        calls += 1
        errors += int(call.status != "ok")
        by_role[_role(call.scope)] += 1
        prompt += call.usage.prompt_tokens
        completion += call.usage.completion_tokens
        cost += call.cost_usd
        priced += int(call.cost_usd > 0)

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
        priced_calls=priced,
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
    record = store.run_record()
    config = record.config_as(StoredConfig)
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
        name=record.name,
        path=str(store.path),
        # "interrupted" for a run recorded running whose process is gone (no writer lock).
        status=store.shown_status() or record.status,
        label=label or record.name,
        cases=store.status_counts(),
        targets=targets,
        scenario_categories={c.scenario: c.category for c in rows},
        overall={t: score(by_target.get(t, [])) for t in targets},
        breakdown={d: _breakdown(judged, d) for d in DIMENSIONS},
        rounds=rounds_agreement(votes),
        cohorts=cohorts(votes),
        flip_rates=flip_rates(votes),
        jury=jury_summary(config),
        abstentions=abstention_stats(votes),
        answers=answer_flags(store, {meta.case_id for meta, _ in judged}),
        calls=call_stats(store, len(judged)),
        disagreements=len(split),
        audit=[_audit_case(store, c) for c in split[:AUDIT_CASES]],
        rubrics=rubric_counts(votes),
        budget=config.budget,
        strongreject=strongreject_scores((meta for meta, _ in judged), votes),
    )


def _audit_case(store: RunStore, case: CaseSummary) -> AuditCase:
    answer = store.get_answer(case.case_id)
    verdict = store.get_verdict(case.case_id)
    text = answer.text if answer else ""
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS] + " …"
    votes = list(store.iter_votes(case.case_id))
    last = max((v.round for v in votes), default=0)
    return AuditCase(
        case=case,
        blind=vote_split(votes, 1) if votes else None,
        final=vote_split(votes, last) if votes else None,
        answer=text,
        summary=verdict.summary if verdict else "",
    )


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
            names.append(store.run_record().name)
    for path, label in zip(paths, _labels(names, paths), strict=True):
        with RunStore.open_readonly(path) as store:
            runs.append(run_report(store, label))
    categories = sorted(
        {g for run in runs for groups in run.breakdown["category"].values() for g in groups}
    )
    return Report(runs=runs, categories=categories)
