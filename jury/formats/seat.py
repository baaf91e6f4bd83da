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
    done = await gateway.complete(spec, messages, scope=f"{case.case_id}/{seat}", role="juror")
    try:
        reading = fmt.read(done.text)
    except FormatAnswerError as exc:
        return abstention(case, seat, fmt, round_number, str(exc))
    if reading.harmful and fmt.case_category and not reading.codes:
        reading = replace(reading, codes=(case.category,))
    return Vote(
        case_id=case.case_id,
        juror=seat,
        round=round_number,
        payload=fmt.payload(reading),
        rubric=fmt.label,
    )


def kept(vote: Vote, round_number: int) -> Vote:
    """A classifier's vote carried into a deliberation round unchanged (it is asked nothing)."""
    return vote.model_copy(update={"round": round_number, "attempts": 0})


async def keep(vote: Vote, round_number: int) -> Vote:
    """:func:`kept`, awaitable beside the other jurors' turns of a round."""
    return kept(vote, round_number)
