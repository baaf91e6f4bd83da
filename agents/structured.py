"""Ask a model for a structured reply; on a reply that does not parse, re-ask with the error.

Jurors (a vote block) and judges (a JSON object) are asked the same way: the reply is read
by a parser, and one that fails is answered with what was wrong, a bounded number of times,
so a model that slipped once gets to correct itself and one that cannot is given up on with
its last error. Each attempt is one model call, recorded (and cached) by the gateway like
any other, so a resumed run replays the same attempts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Asked(Generic[T]):
    """What asking came to: the parsed value, or the last parse error and reply."""

    value: T | None
    attempts: int
    """Model calls made, the first ask included (1 + the re-asks used)."""
    error: str = ""
    """Why the last reply was not read ("" when ``value`` was)."""
    reply: str = ""
    """The last reply, as the model gave it."""


async def ask_and_reask(
    send: Callable[[str, int], Awaitable[str]],
    message: str,
    parse: Callable[[str], T],
    reask: Callable[[str], str],
    *,
    max_reasks: int,
    parse_errors: tuple[type[Exception], ...] = (ValueError,),
    describe: Callable[[str, Exception], str] = lambda _reply, exc: str(exc),
) -> Asked[T]:
    """Send ``message``, read the reply with ``parse``, re-ask up to ``max_reasks`` times.

    ``send(message, attempt)`` makes one model call (``attempt`` counts from 1, so a caller
    can send media with the first message only); whatever it raises goes to the caller. A
    ``parse_errors`` exception from ``parse`` is a reply not read: ``describe(reply, exc)``
    says why, and ``reask(why)`` is the next message sent.
    """
    error = ""
    reply = ""
    attempts = 0
    for attempts in range(1, max_reasks + 2):
        reply = await send(message, attempts)
        try:
            return Asked(parse(reply), attempts, reply=reply)
        except parse_errors as exc:
            error = describe(reply, exc)
        message = reask(error)
    return Asked(None, attempts, error, reply)
