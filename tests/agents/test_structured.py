"""The ask-and-reask loop jurors and judges share: re-asked with the error, bounded."""

from __future__ import annotations

import pytest

from agents.structured import ask_and_reask


def _number(reply: str) -> int:
    if not reply.isdigit():
        raise ValueError(f"{reply!r} is not a number")
    return int(reply)


async def test_a_reply_that_does_not_parse_is_reasked_with_its_error() -> None:
    replies = iter(["seven", "7"])
    sent: list[tuple[str, int]] = []

    async def send(message: str, attempt: int) -> str:
        sent.append((message, attempt))
        return next(replies)

    asked = await ask_and_reask(
        send, "a number?", _number, lambda error: f"again: {error}", max_reasks=2
    )
    assert (asked.value, asked.attempts, asked.error, asked.reply) == (7, 2, "", "7")
    assert sent == [("a number?", 1), ("again: 'seven' is not a number", 2)]


async def test_after_the_last_reask_the_last_error_and_reply_are_given_back() -> None:
    calls = 0

    async def send(message: str, attempt: int) -> str:
        nonlocal calls
        calls += 1
        return f"no{attempt}"

    asked = await ask_and_reask(
        send,
        "a number?",
        _number,
        lambda error: error,
        max_reasks=2,
        describe=lambda reply, exc: f"{reply}: {exc}",
    )
    assert calls == 3
    assert asked.value is None
    assert asked.attempts == 3
    assert asked.reply == "no3"
    assert asked.error == "no3: 'no3' is not a number"


async def test_an_error_outside_parse_errors_goes_to_the_caller() -> None:
    async def send(message: str, attempt: int) -> str:
        return "x"

    def parse(reply: str) -> int:
        raise KeyError(reply)

    with pytest.raises(KeyError):
        await ask_and_reask(send, "?", parse, lambda e: e, max_reasks=3)
