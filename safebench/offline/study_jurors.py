"""Replayed and simulated jurors: offline models for studying juries without any LLM.

- ``safebench/replay/<column>`` answers with the verdict a real judge recorded for the
  (question, answer) pair it is shown (e.g. HarmBench's ``gpt-4-0613`` column). It never
  changes its vote in deliberation: a recording cannot be persuaded.
- ``safebench/simulated/<k=v,...>`` knows the true label (the ``truth`` table) and is right
  with probability ``competence``; ``bias`` shifts it towards harmful (>0) or not (<0);
  ``correlation`` is the chance its luck on an item is the luck every correlated juror shares;
  ``persuadability`` is the chance it joins an opposing majority in a deliberation round;
  ``seed`` tells otherwise identical jurors apart (the jury's own ``seed`` varies them all).
  Example:
  ``safebench/simulated/competence=0.7,bias=0.1,correlation=0.3,persuadability=0.5,seed=2``.

Both read the ballot the courtroom writes and reply in the vote format, so they travel the
same path (litellm custom provider, gateway, cache, parser) as every other juror. The verdict
they answer from (the judge's, or the true label) is an argument of each call: the study that
puts its labelled items before them hands it over as the call's
``agents.offline_catalog.RECORDED_VERDICT_PARAM`` (``safebench.studies.recorded``), and the provider
passes it on. A call with none (an item the judge did not rate, a juror outside a study) gets
a reply with no vote, which the courtroom records as an abstention after its re-asks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from jury.label_keys import item_key
from kernel.ballot import courtroom_text, read_case, vote_block
from kernel.records import VotePayload
from safebench.offline.reading import NOT_A_BALLOT
from safebench.offline.seeding import offline_seed

ChatMessages = list[dict[str, object]]
StudyJuror = Callable[[ChatMessages, bool | None], str]
"""A replayed or simulated juror: the conversation, and the recorded verdict on the item it is
judging (None: none was handed over) -> its reply."""

REPLAY_PREFIX = "replay/"
SIMULATED_PREFIX = "simulated/"
DELIBERATION = re.compile(r"^Deliberation round (\d+) on case ([0-9a-f]{12})\.", re.MULTILINE)
OTHER_SIDE = re.compile(r"^- Juror [A-Z]: harmful=(yes|no);", re.MULTILINE)


def _user_texts(messages: ChatMessages) -> list[str]:
    texts: list[str] = []
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.append("".join(str(p.get("text", "")) for p in content if isinstance(p, dict)))
    return texts


@dataclass(frozen=True)
class Ballot:
    """What a study juror reads from its conversation."""

    nonce: str
    key: str
    round: int
    others_harmful: int
    others_safe: int


def read_ballot(messages: ChatMessages) -> Ballot | None:
    texts = _user_texts(messages)
    joined = "\n".join(texts)
    case = read_case(joined)
    if case is None:
        return None
    nonce = case.nonce
    # The courtroom's cut markers are not part of the item: a long request or answer is
    # matched by its start (item_key keys on the first 4,000 characters of each).
    request = re.sub(r"\n\[… request cut at \d+ characters\]$", "", case.request or "")
    answer = re.sub(r"\n\[… answer cut at \d+ characters\]$", "", case.answer or "")
    # The round and the other jurors' sides come from the courtroom's own text of the last
    # brief, and only for this case: a "Deliberation round …" line quoted in an answer
    # would otherwise make a first vote look like a round with forged sides.
    last = courtroom_text(texts[-1], nonce) if texts else ""
    round_match = DELIBERATION.search(last)
    if round_match and round_match.group(2) != nonce:
        round_match = None
    sides = OTHER_SIDE.findall(last) if round_match else []
    return Ballot(
        nonce=nonce,
        key=item_key(request, answer),
        round=int(round_match.group(1)) if round_match else 1,
        others_harmful=sides.count("yes"),
        others_safe=sides.count("no"),
    )


def _vote(nonce: str, harmful: bool, reasoning: str, confidence: float) -> str:
    payload = VotePayload(
        harmful=harmful,
        safety_rating=2 if harmful else 4,
        reasoning=reasoning,
        confidence=confidence,
    )
    return f"{reasoning}\n{vote_block(nonce, payload)}"


def replay_juror(column: str) -> StudyJuror:
    """Replays the verdict judge ``column`` recorded, as the call hands it over."""

    def respond(messages: ChatMessages, harmful: bool | None) -> str:
        ballot = read_ballot(messages)
        if ballot is None:
            return NOT_A_BALLOT
        if harmful is None:
            return f"No verdict of {column!r} is recorded for this request and answer."
        word = "harmful" if harmful else "not harmful"
        return _vote(ballot.nonce, harmful, f"Recorded verdict of {column}: {word}.", 0.9)

    return respond


@dataclass(frozen=True)
class Temperament:
    """A simulated juror's traits (see the module docstring)."""

    competence: float = 0.75
    bias: float = 0.0
    correlation: float = 0.0
    persuadability: float = 0.0
    seed: int = 0


def parse_temperament(spec: str) -> Temperament:
    """``competence=0.7,bias=0.1,...`` -> Temperament; raises ValueError naming the problem."""
    values: dict[str, float] = {}
    for part in filter(None, spec.split(",")):
        name, sep, raw = part.partition("=")
        if not sep or name not in Temperament.__dataclass_fields__:
            known = ", ".join(Temperament.__dataclass_fields__)
            raise ValueError(f"simulated juror option {part!r}: write name=value with {known}")
        values[name] = float(raw)
    temperament = Temperament(**{**values, "seed": int(values.get("seed", 0))})  # type: ignore[arg-type]
    for name in ("competence", "correlation", "persuadability"):
        if not 0.0 <= getattr(temperament, name) <= 1.0:
            raise ValueError(f"simulated juror {name} must lie in [0, 1]")
    if not -1.0 <= temperament.bias <= 1.0:
        raise ValueError("simulated juror bias must lie in [-1, 1]")
    return temperament


def _uniform(*parts: object) -> float:
    """A deterministic draw in [0, 1): reruns agree, different jurors and items do not."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def simulated_juror(spec: str) -> StudyJuror:
    """A juror of known competence, bias, correlation and persuadability; the call hands it
    the item's true label."""
    t = parse_temperament(spec)

    def respond(messages: ChatMessages, truth: bool | None) -> str:
        ballot = read_ballot(messages)
        if ballot is None:
            return NOT_A_BALLOT
        if truth is None:
            return "No true label is registered for this request and answer."
        # The jury's seed varies every draw; seed 0 adds nothing, so the draws (and the
        # figures measured with them) are those of before the seed existed.
        jury_seed = offline_seed()
        key = ballot.key if jury_seed == 0 else f"{ballot.key}\x1fseed={jury_seed}"
        # Correlated jurors share one draw per item: they tend to err on the same items.
        shared = _uniform("shared", key) < t.correlation
        luck = _uniform("item", key) if shared else _uniform(spec, key)
        # Bias moves the chance of saying "harmful" up (or down) on every item alike.
        p_harmful = (t.competence if truth else 1.0 - t.competence) + t.bias
        harmful = luck < min(1.0, max(0.0, p_harmful))
        reasoning = f"Simulated juror ({spec}): my reading says {'harmful' if harmful else 'safe'}."
        if ballot.round > 1:
            opposing = ballot.others_safe if harmful else ballot.others_harmful
            siding = ballot.others_harmful if harmful else ballot.others_safe
            if opposing > siding and _uniform(spec, key, ballot.round) < t.persuadability:
                harmful = not harmful
                reasoning = f"Simulated juror ({spec}): persuaded by the majority."
        return _vote(ballot.nonce, harmful, reasoning, 0.75)

    return respond


def recorded_verdict_of(value: object) -> bool | None:
    """The handed-over verdict parameter as sent (a bool, or absent) as harmful or not."""
    if value is None or isinstance(value, bool):
        return value
    # A mistyped verdict must not quietly become "none recorded": the call fails, recorded.
    raise ValueError(f"a recorded verdict is true or false, got {value!r}")


def study_model(name: str) -> StudyJuror | None:
    """The replayed or simulated juror ``name`` (without ``safebench/``), if it is one."""
    if name.startswith(REPLAY_PREFIX) and len(name) > len(REPLAY_PREFIX):
        return replay_juror(name.removeprefix(REPLAY_PREFIX))
    if name.startswith(SIMULATED_PREFIX):
        return simulated_juror(name.removeprefix(SIMULATED_PREFIX))
    return None
