"""A formatted juror's turn: asked with its format's prompt, its answer read into a vote.

The courtroom calls :func:`ask_formatted` for a seat whose juror names a ``format``, in place
of the deliberation brief. The call goes through the gateway like every juror's (throttled,
retried, recorded, cached under the case and seat). A classifier does not deliberate: in later
rounds the courtroom keeps its vote (:func:`kept`) and asks it nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from autogen_core import Image
from autogen_core.models import UserMessage

from agents.chat_client import SpeechClip, to_openai_messages
from agents.gateway import Gateway
from agents.spec import ModelSpec
from jury.formats import get_format
from jury.formats.base import FormatAnswerError, FormatInput, JudgeFormat
from jury.prompts import CaseFile
from kernel.records import Vote


def seated_formats(jurors: Sequence[ModelSpec]) -> list[tuple[ModelSpec, JudgeFormat] | None]:
    """Each seat's model with its judge format, or None for a juror that deliberates."""
    return [
        (juror, get_format(fmt)) if (fmt := getattr(juror, "format", None)) else None
        for juror in jurors
    ]


def format_input(case: CaseFile, *, shown: bool) -> FormatInput:
    return FormatInput(
        request=case.request,
        answer=case.answer,
        category=case.category,
        has_image=shown and case.image is not None,
    )


def abstention(case: CaseFile, seat: str, fmt: JudgeFormat, round_number: int, why: str) -> Vote:
    """No vote, with its cause: an answer in no shape, or a case the format cannot judge.

    A case outside the format is recorded with cause ``format`` (its parse error starting
    ``format:``); an answer in no shape of the format is ``unreadable``."""
    return Vote(
        case_id=case.case_id,
        juror=seat,
        round=round_number,
        payload=None,
        parse_error=why,
        abstain_cause="format" if why.startswith("format:") else "unreadable",
        attempts=0 if why.startswith("format:") else 1,
        rubric=fmt.label,
    )


async def ask_formatted(
    gateway: Gateway,
    spec: ModelSpec,
    fmt: JudgeFormat,
    case: CaseFile,
    seat: str,
    media: Sequence[Image] = (),
    round_number: int = 1,
) -> Vote:
    """Ask the seat's classifier once, in its format, and read its answer into a vote.

    ``media``: the case's media this seat accepts (its image goes with the prompt). Raises the
    gateway's ``ProviderError`` when the model cannot be reached."""
    image = next((m for m in media if not isinstance(m, SpeechClip)), None)
    why = fmt.applies(has_image=case.image is not None, shown=image is not None)
    if why is not None:
        return abstention(case, seat, fmt, round_number, f"format: {why}")
    prompt = fmt.render(format_input(case, shown=image is not None))
    content: str | list[str | Image] = [prompt, image] if image is not None else prompt
    messages = to_openai_messages([UserMessage(content=content, source="clerk")])
    asked, wants = asked_spec(spec, fmt)
    done = await gateway.complete(asked, messages, scope=f"{case.case_id}/{seat}", role="juror")
    try:
        reading = fmt.read(done.text)
    except FormatAnswerError as exc:
        return abstention(case, seat, fmt, round_number, str(exc))
    if wants:
        if done.top_logprobs is None and getattr(spec, "probability", "auto") == "logprobs":
            why = (
                f"{spec.model} returned no log-probabilities, and the seat requires them "
                "(probability: logprobs); serve it where logprobs are returned (vLLM) or "
                "use probability: text"
            )
            return abstention(case, seat, fmt, round_number, why)
        probability = fmt.probability(done.top_logprobs, reading.harmful)
        reading = replace(reading, probability=_coherent(probability, reading.harmful))
    if reading.harmful and fmt.case_category and not reading.codes:
        reading = replace(reading, codes=(case.category,))
    return Vote(
        case_id=case.case_id,
        juror=seat,
        round=round_number,
        payload=fmt.payload(reading),
        rubric=fmt.label,
    )


LOGPROB_ROUTES = frozenset({"hosted_vllm"})
"""Prefixes whose servers are known to return ``logprobs`` when asked (vLLM);
``probability: auto`` asks them, and only them, at an explicit ``api_base``. Another
OpenAI-compatible server or proxy may refuse the field (a 400 on every case), so there it is
asked only under ``probability: logprobs``."""

TOP_LOGPROBS = 5
"""Alternatives asked for the first token: enough to hold both answer words of any format."""


def asked_spec(spec: ModelSpec, fmt: JudgeFormat) -> tuple[ModelSpec, bool]:
    """The seat's spec as it is asked, and whether its answer carries log-probabilities.

    An ``hf-classifier/`` seat scores the format's prompt in process, on the format's two
    answer words; a server seat is asked for ``logprobs`` when its ``probability`` setting
    says so. The seat's own params win over what is added here."""
    mode = getattr(spec, "probability", "auto")
    params = dict(spec.params)
    if spec.model.startswith("hf-classifier/"):
        # Always scored this way (it cannot generate a format's answer); the odds it returns
        # are read only where the probability is not to come from the text.
        harmful, safe = fmt.words or ("Yes", "No")
        added: dict[str, object] = {
            "scoring": "next_token",
            "prompt_in_message": True,
            "add_bos": not fmt.bos_in_prompt,
            "harmful_token": harmful,
            "safe_token": safe,
        }
        return spec.model_copy(update={"params": added | params}), mode != "text"
    if mode == "text" or not fmt.harm_tokens:
        return spec, False
    if mode == "logprobs" or (
        spec.model.split("/", 1)[0] in LOGPROB_ROUTES and spec.api_base is not None
    ):
        added = {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
    else:
        return spec, False
    return spec.model_copy(update={"params": added | params}), True


def _coherent(probability: float, harmful: bool) -> float:
    """The probability kept on the side of the vote the text gave (a sampled answer may
    contradict its own first-token odds): a harmful vote is at least 0.5, a safe one below."""
    return max(probability, 0.5) if harmful else min(probability, 0.4999)


def kept(vote: Vote, round_number: int) -> Vote:
    """A classifier's vote carried into a deliberation round unchanged (it is asked nothing)."""
    return vote.model_copy(update={"round": round_number, "attempts": 0})


async def keep(vote: Vote, round_number: int) -> Vote:
    """:func:`kept`, awaitable beside the other jurors' turns of a round."""
    return kept(vote, round_number)
