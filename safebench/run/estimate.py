"""What a run will cost, before it runs: cases, model calls, tokens, dollars and wall time.

``safebench run CONFIG --estimate`` calls no model and writes no store. It reads the dataset
(the seed set is built beside the store if it is not there yet) and, when the run's store
exists, which cases are already finished, then counts:

- cases: targets x queries x modalities (the run's ``sample`` or first ``limit``), less the
  skips the dataset already implies (a query lacking the modality's media, a target not
  accepting the modality) and the cases a resume would not ask again;
- model calls per role and model: one per asked case for a target (none for a replay
  target); per juror, the blind vote, then up to ``rounds`` deliberation rounds (best case:
  early stop ends the case where it first can, after the blind round under ``consensus``,
  after round 2 under ``no_change`` alone; worst case: every round); one foreperson call per
  case. Re-asks of an unreadable vote are not counted (each adds at most ``max_reasks``);
- tokens: ~4 characters a token for text (the jurors' prompts are built with the real prompt
  builders, and a juror's context grows each round by its vote and the others' votes), an
  image as :data:`IMAGE_TOKENS`, a speech clip as :data:`AUDIO_TOKENS`, and the typical reply
  lengths in :class:`Assumptions`;
- dollars: litellm's local price map (``litellm.cost_per_token``); a model it does not price
  (the offline ``safebench/…`` models, a local server's model) is reported as unpriced;
- wall time: the longest of what bounds the run at its configured limits: cases in flight
  (``concurrency``) times each case's chain of calls, each provider's
  ``requests_per_second`` and ``max_concurrency``, and each target's ``max_concurrency``,
  with every call taking :attr:`Assumptions.latency_s` (offline models: no time).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agents.llm import load_litellm
from jury.config import JuryConfig
from jury.prompts import CaseFile, deliberation, first_vote, foreperson_brief, foreperson_system
from jury.prompts import juror_system as juror_system_prompt
from kernel.records import MODALITIES, Modality, Query, case_id, modality_kind
from safebench.run.cases import chosen_queries, resolve_dataset
from safebench.run.config import RunConfig
from targets.base import TargetConfig
from targets.capabilities import declared_modalities
from transcripts.store import RunStore

CHARS_PER_TOKEN = 4
"""English text runs near 4 characters a token in the common BPE tokenizers."""
IMAGE_TOKENS = 765
"""One image: OpenAI's high-detail price of a 512x512 picture (85 + 4 tiles x 170)."""
AUDIO_TOKENS = 500
"""One speech clip of a query (some 20 s of speech)."""


class Assumptions(BaseModel):
    """What the estimate cannot know and assumes; every figure is shown with the estimate."""

    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(3.0, gt=0)
    """Seconds one model call takes (offline ``safebench/…`` models: none)."""
    answer_tokens: int = Field(400, ge=1)
    """A target's typical answer."""
    vote_tokens: int = Field(150, ge=1)
    """A juror's typical reply: a few sentences of reasoning and the vote."""
    summary_tokens: int = Field(150, ge=1)
    """The foreperson's typical summary (and vote)."""


class RoleEstimate(BaseModel):
    """The calls one model makes in one role, best case (early stop) and worst (all rounds)."""

    role: str
    model: str
    calls_best: int
    calls_worst: int
    prompt_tokens_best: int
    prompt_tokens_worst: int
    completion_tokens_best: int
    completion_tokens_worst: int
    usd_best: float | None
    """None: litellm's price map does not price this model."""
    usd_worst: float | None


class RunEstimate(BaseModel):
    """A run's cost before it runs; see the module's docstring for how each figure is made."""

    queries: int
    modalities: int
    targets: int
    cases: int
    """targets x queries x modalities, of the queries the run asks (``sample``, ``limit``)."""
    skipped: dict[str, int]
    """Cases no model is asked, by reason (the dataset's media, the targets' inputs)."""
    already_finished: int
    """Cases the run's store already holds as finished (a resume does not ask them)."""
    asked: int
    """Cases that will call a model."""
    roles: list[RoleEstimate]
    calls_best: int
    calls_worst: int
    usd_best: float
    """Dollars of the priced models only."""
    usd_worst: float
    unpriced: list[str]
    """Models litellm's price map does not price: their calls are not in the dollars."""
    wall_s_best: float
    wall_s_worst: float
    bound_by: str
    """What limits the wall time in the worst case (concurrency, a provider's rate, …)."""
    assumptions: Assumptions
    notes: list[str]


def estimate_run(config: RunConfig, assumptions: Assumptions | None = None) -> RunEstimate:
    """Estimate ``config``'s run without calling any model or writing its store."""
    assume = assumptions or Assumptions()
    dataset_root = resolve_dataset(config)
    finished = _finished_cases(config.store_path())
    accepts = {t.display_name: _accepts(t) for t in config.targets}
    queries = list(chosen_queries(config, dataset_root))
    skipped: Counter[str] = Counter()
    # (target name) -> (cases asked, prompt tokens of their target calls)
    target_cases: Counter[str] = Counter()
    target_prompt: Counter[str] = Counter()
    asked: list[tuple[Query, Modality]] = []
    already = 0
    for query in queries:
        for modality in config.modalities:
            for target in config.targets:
                name = target.display_name
                if case_id(name, query.id, modality) in finished:
                    already += 1
                elif query.missing_input(modality) is not None:
                    skipped[f"query lacks {modality_kind(modality)} input"] += 1
                elif modality_kind(modality) not in accepts[name]:
                    skipped[f"target does not accept {modality_kind(modality)}"] += 1
                else:
                    target_cases[name] += 1
                    target_prompt[name] += _target_prompt_tokens(target, query, modality)
                    asked.append((query, modality))
    roles = _target_roles(config.targets, target_cases, target_prompt, assume)
    roles += _jury_roles(config.jury, asked, assume)
    notes = _notes(config)
    wall_best, _ = _wall_time(config, roles, target_cases, len(asked), assume, best=True)
    wall_worst, bound = _wall_time(config, roles, target_cases, len(asked), assume, best=False)
    priced = [r for r in roles if r.usd_best is not None]
    return RunEstimate(
        queries=len(queries),
        modalities=len(config.modalities),
        targets=len(config.targets),
        cases=len(queries) * len(config.modalities) * len(config.targets),
        skipped=dict(sorted(skipped.items())),
        already_finished=already,
        asked=len(asked),
        roles=roles,
        calls_best=sum(r.calls_best for r in roles),
        calls_worst=sum(r.calls_worst for r in roles),
        usd_best=sum(r.usd_best or 0.0 for r in priced),
        usd_worst=sum(r.usd_worst or 0.0 for r in priced),
        unpriced=sorted({r.model for r in roles if r.usd_best is None and r.calls_worst}),
        wall_s_best=wall_best,
        wall_s_worst=wall_worst,
        bound_by=bound,
        assumptions=assume,
        notes=notes,
    )


def _finished_cases(store: Path) -> set[str]:
    if not store.is_file():
        return set()
    with RunStore.open_readonly(store) as opened:
        return opened.finished_cases()


def _accepts(target: TargetConfig) -> frozenset[str]:
    if target.kind == "replay":
        return frozenset(target.accepts or MODALITIES)
    return frozenset(declared_modalities(target.model, target.accepts, target.params))


def tokens(text: str) -> int:
    """Text's tokens at :data:`CHARS_PER_TOKEN`."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _target_prompt_tokens(target: TargetConfig, query: Query, modality: Modality) -> int:
    kind = modality_kind(modality)
    # Speech alone carries no written text; audio+text, image and text cases do.
    text_sent = kind != "audio" or "+text" in modality
    media = {"image": IMAGE_TOKENS, "audio": AUDIO_TOKENS}.get(kind, 0)
    return tokens(target.system_prompt or "") + (tokens(query.text) if text_sent else 0) + media


def _target_roles(
    targets: list[TargetConfig],
    cases: Counter[str],
    prompt: Counter[str],
    assume: Assumptions,
) -> list[RoleEstimate]:
    roles = []
    for target in targets:
        if target.kind == "replay":
            continue  # answers from a file: no call
        name = target.display_name
        calls = cases[name]
        completion = calls * assume.answer_tokens
        roles.append(
            _role(
                "target",
                target.model,
                calls,
                calls,
                prompt[name],
                prompt[name],
                completion,
                completion,
            )
        )
    return roles


def juror_rounds(jury: JuryConfig) -> tuple[int, int]:
    """(best, worst) rounds a juror votes in per case: the blind vote plus deliberation."""
    worst = 1 + jury.rounds
    if jury.rounds == 0 or not jury.early_stop:
        return worst, worst
    # consensus can end the case on the blind votes; no_change needs a second round to compare.
    best = 1 if "consensus" in jury.early_stop else min(2, worst)
    return best, worst


def _jury_roles(
    jury: JuryConfig, asked: list[tuple[Query, Modality]], assume: Assumptions
) -> list[RoleEstimate]:
    best_rounds, worst_rounds = juror_rounds(jury)
    n = len(asked)
    # What every case adds to a juror's first prompt: the request (as cut) and the answer.
    answer = "x" * min(assume.answer_tokens * CHARS_PER_TOKEN, jury.max_answer_chars)
    request_tokens = sum(tokens(q.text[: jury.max_request_chars]) for q, _ in asked)
    vote = "y" * (assume.vote_tokens * CHARS_PER_TOKEN)
    roles = []
    for index, juror in enumerate(jury.jurors):
        rubric = jury.juror_rubric(index)
        blank = _blank_case(answer)
        first = tokens(juror_system_prompt(juror.resolved_persona(), rubric)) + tokens(
            first_vote(blank, jury.max_answer_chars, jury.max_request_chars, rubric)
        )
        # What a case adds to that: its request, and the media a juror that accepts them sees.
        case_tokens = request_tokens + _juror_media_tokens(juror.accepts, asked)
        # Each later round: the juror's own last reply and a brief with the others' votes,
        # added to a context that keeps the whole conversation.
        growth = (
            assume.vote_tokens
            + tokens(deliberation(blank, 2, [], rubric))
            + (len(jury.jurors) - 1) * tokens(vote)
        )
        best, worst = (
            _juror_prompt_tokens(rounds, n, first, case_tokens, growth)
            for rounds in (best_rounds, worst_rounds)
        )
        roles.append(
            _role(
                "juror",
                juror.model,
                n * best_rounds,
                n * worst_rounds,
                best,
                worst,
                n * best_rounds * assume.vote_tokens,
                n * worst_rounds * assume.vote_tokens,
            )
        )
    if jury.foreperson is not None:
        blank = _blank_case(answer)
        per_case = (
            tokens(foreperson_system(jury.jury_rubric()))
            + tokens(
                foreperson_brief(blank, [], False, jury.max_answer_chars, jury.max_request_chars)
            )
            + len(jury.jurors) * tokens(vote)
        )
        prompt = n * per_case + request_tokens
        completion = n * assume.summary_tokens
        roles.append(
            _role("foreperson", jury.foreperson.model, n, n, prompt, prompt, completion, completion)
        )
    return roles


def _juror_prompt_tokens(rounds: int, cases: int, first: int, per_case: int, growth: int) -> int:
    """Prompt tokens of ``rounds`` votes on ``cases`` cases: every round resends the whole
    context, which grows by ``growth`` a round."""
    fixed = cases * (rounds * first + growth * rounds * (rounds - 1) // 2)
    return fixed + rounds * per_case


def _blank_case(answer: str) -> CaseFile:
    return CaseFile(
        case_id="estimate",
        nonce="0123456789abcdef",
        category="",
        scenario="",
        modality="text",
        request="",
        answer=answer,
    )


def _juror_media_tokens(accepts: Iterable[str] | None, asked: list[tuple[Query, Modality]]) -> int:
    """A juror that accepts a case's media is shown it with the first brief."""
    if not accepts:
        return 0
    shown = {"image": IMAGE_TOKENS, "audio": AUDIO_TOKENS}
    return sum(
        shown[kind]
        for q, m in asked
        if (kind := modality_kind(m)) in shown and kind in accepts and q.media_for(m) is not None
    )


def _role(
    role: str,
    model: str,
    calls_best: int,
    calls_worst: int,
    prompt_best: int,
    prompt_worst: int,
    completion_best: int,
    completion_worst: int,
) -> RoleEstimate:
    return RoleEstimate(
        role=role,
        model=model,
        calls_best=calls_best,
        calls_worst=calls_worst,
        prompt_tokens_best=prompt_best,
        prompt_tokens_worst=prompt_worst,
        completion_tokens_best=completion_best,
        completion_tokens_worst=completion_worst,
        usd_best=price(model, prompt_best, completion_best),
        usd_worst=price(model, prompt_worst, completion_worst),
    )


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars by litellm's local price map (the gateway prices replies the same way); None
    when the map does not price ``model``."""
    if model.startswith("safebench/"):
        return None  # the offline stack's models: no price, and no provider to ask litellm
    try:
        prompt, completion = load_litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # litellm raises for a model its map lacks
        return None
    return float(prompt + completion)


def _latency(model: str, assume: Assumptions) -> float:
    return 0.0 if model.startswith("safebench/") else assume.latency_s


def _wall_time(
    config: RunConfig,
    roles: list[RoleEstimate],
    target_cases: Counter[str],
    cases: int,
    assume: Assumptions,
    *,
    best: bool,
) -> tuple[float, str]:
    """The longest of the bounds on the run's wall time, and what sets it."""
    jury = config.jury
    rounds = juror_rounds(jury)[0 if best else 1]
    juror_latencies = [_latency(j.model, assume) for j in jury.jurors]
    one_round = max(juror_latencies) if jury.protocol == "simultaneous" else sum(juror_latencies)
    foreperson = _latency(jury.foreperson.model, assume) if jury.foreperson else 0.0
    target_latency = max(
        (_latency(t.model, assume) for t in config.targets if t.kind != "replay"), default=0.0
    )
    case_s = target_latency + rounds * one_round + foreperson
    bounds = [(cases * case_s / config.concurrency, f"concurrency {config.concurrency}")]
    for target in config.targets:
        if target.max_concurrency and target.kind != "replay":
            busy = target_cases[target.display_name] * _latency(target.model, assume)
            bounds.append(
                (busy / target.max_concurrency, f"target {target.display_name} max_concurrency")
            )
    calls_by_provider: Counter[str] = Counter()
    busy_by_provider: dict[str, float] = {}
    for role in roles:
        calls = role.calls_best if best else role.calls_worst
        provider = role.model.split("/", 1)[0]  # as ModelSpec.provider reads it
        calls_by_provider[provider] += calls
        busy = calls * _latency(role.model, assume)
        busy_by_provider[provider] = busy_by_provider.get(provider, 0.0) + busy
    gateway = config.gateway
    for provider, calls in calls_by_provider.items():
        limits = gateway.providers.get(provider, gateway.default_limits)
        if limits.requests_per_second is not None:
            bounds.append((calls / limits.requests_per_second, f"{provider} requests_per_second"))
        bounds.append(
            (busy_by_provider[provider] / limits.max_concurrency, f"{provider} max_concurrency")
        )
    return max(bounds, key=lambda bound: bound[0])


def _notes(config: RunConfig) -> list[str]:
    notes = [
        "re-asks of unreadable votes and retries of failed calls are not counted",
        "a target answer its provider refuses is not judged (fewer jury calls)",
    ]
    if config.attack is not None:
        notes.append(
            "the attack's own model calls (if it uses a model) are not counted, and its "
            "wrapping of each query is not in the token counts"
        )
    return notes
