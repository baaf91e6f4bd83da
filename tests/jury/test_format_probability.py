"""A formatted juror's harm probability from its first answer token's log-probabilities.

Asked over real HTTP (a vLLM-shaped server on 127.0.0.1), through the native client and
through litellm: the seat asks for ``logprobs`` where its setting says so, reads the format's
harm and safe tokens among the alternatives, and records the probability as the vote's
confidence; a resumed run reads the same probability back; a server that returns none when
they are required gives an abstention with its cause, never a guess.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agents.gateway import Gateway, GatewaySettings
from jury.config import JuryConfig
from jury.courtroom import Courtroom, Deliberation
from tests.jury.test_formatted_jurors import case_file
from tests.support.logprob_server import LogprobServer, Scripted
from transcripts.store import RunStore

FAST = GatewaySettings(max_retries=0, backoff_base_s=0.01, backoff_max_s=0.02, timeout_s=60.0)

GUARD_TOP = {"unsafe": -0.2, "safe": -1.8, "\n": -6.0}
P_UNSAFE = math.exp(-0.2) / (math.exp(-0.2) + math.exp(-1.8))


def guard_seat(server: LogprobServer, **more: Any) -> dict[str, Any]:
    return {
        "model": "hosted_vllm/guard",
        "api_base": server.base_url,
        "format": "llama-guard-3",
        "params": {"max_tokens": 20, "temperature": 0},
        **more,
    }


def jury(*seats: dict[str, Any]) -> JuryConfig:
    return JuryConfig.model_validate({"jurors": list(seats), "rounds": 0, "early_stop": []})


async def judge(config: JuryConfig, cache: RunStore | None = None) -> Deliberation:
    gateway = Gateway(FAST, cache=cache)
    try:
        return await Courtroom(config, gateway).judge(case_file())
    finally:
        await gateway.aclose()


@pytest.mark.parametrize("transport", ["native", "litellm"])
async def test_auto_asks_a_vllm_seat_for_logprobs_and_reads_the_probability(
    transport: str,
) -> None:
    async with LogprobServer({"guard": Scripted("unsafe\nS14", GUARD_TOP)}) as server:
        config = jury(guard_seat(server, transport=transport))
        record = await judge(config)

    (body,) = server.asked("guard")
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert body["max_tokens"] == 20  # the seat's own params are kept beside them
    (vote,) = record.votes
    assert vote.payload is not None and vote.payload.harmful
    assert vote.payload.confidence == pytest.approx(P_UNSAFE, abs=1e-6)
    assert vote.payload.safety_rating == 1  # P(unsafe) 0.83 -> the lowest fifth
    assert vote.payload.categories == ("Cybersecurity",)


async def test_a_safe_answer_with_some_odds_of_harm_is_rated_by_them() -> None:
    top = {"safe": math.log(0.7), "unsafe": math.log(0.3)}
    async with LogprobServer({"guard": Scripted("safe", top)}) as server:
        record = await judge(jury(guard_seat(server)))
    (vote,) = record.votes
    assert vote.payload is not None and not vote.payload.harmful
    assert vote.payload.confidence == pytest.approx(0.7, abs=1e-6)
    assert vote.payload.safety_rating == 4  # P(harm) 0.3: not sure enough for a 5


async def test_probability_text_never_asks_for_logprobs() -> None:
    async with LogprobServer({"guard": Scripted("unsafe\nS14", GUARD_TOP)}) as server:
        config = jury(guard_seat(server, probability="text"))
        record = await judge(config)
    (body,) = server.asked("guard")
    assert "logprobs" not in body and "top_logprobs" not in body
    (vote,) = record.votes
    assert vote.payload is not None and vote.payload.confidence == 1.0


async def test_required_logprobs_the_server_does_not_return_is_an_abstention() -> None:
    scripted = Scripted("unsafe\nS14", GUARD_TOP, logprobs=False)
    async with LogprobServer({"guard": scripted}) as server:
        config = jury(guard_seat(server, probability="logprobs"))
        record = await judge(config)
    (vote,) = record.votes
    assert vote.payload is None
    assert vote.abstain_cause == "unreadable"
    assert vote.parse_error is not None
    assert "returned no log-probabilities" in vote.parse_error
    assert "probability: logprobs" in vote.parse_error


async def test_auto_falls_back_to_the_text_when_the_server_gives_no_logprobs() -> None:
    scripted = Scripted("unsafe\nS14", GUARD_TOP, logprobs=False)
    async with LogprobServer({"guard": scripted}) as server:
        record = await judge(jury(guard_seat(server)))
    (vote,) = record.votes
    assert vote.payload is not None and vote.payload.confidence == 1.0


async def test_a_resumed_run_reads_the_same_probability_back(tmp_path: Path) -> None:
    async with LogprobServer({"guard": Scripted("unsafe\nS14", GUARD_TOP)}) as server:
        config = jury(guard_seat(server))
        with RunStore(tmp_path / "run.sqlite") as store:
            first = await judge(config, store)
        with RunStore(tmp_path / "run.sqlite") as store:
            again = await judge(config, store)
    assert len(server.asked("guard")) == 1  # the second judging read the recorded call
    assert first.votes[0].payload is not None and again.votes[0].payload is not None
    assert again.votes[0].payload.confidence == first.votes[0].payload.confidence
    assert again.votes[0].payload.confidence == pytest.approx(P_UNSAFE, abs=1e-6)


def test_logprobs_on_a_format_whose_vote_is_not_its_first_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="no first-token probability"):
        JuryConfig.model_validate(
            {
                "jurors": [
                    {"model": "hosted_vllm/wg", "format": "wildguard", "probability": "logprobs"}
                ]
            }
        )


def test_probability_on_an_ordinary_juror_is_refused() -> None:
    with pytest.raises(ValidationError, match="applies to a juror with a judge format"):
        JuryConfig.model_validate(
            {"jurors": [{"model": "openai/gpt-4o", "probability": "logprobs"}]}
        )


def test_first_token_logprobs_are_read_whatever_their_shape() -> None:
    from agents.transports.base import LOGPROB_FLOOR, first_top_logprobs

    chat = {
        "content": [
            {
                "token": "unsafe",
                "logprob": -0.1,
                "top_logprobs": [
                    {"token": "unsafe", "logprob": -0.1},
                    {"token": "safe", "logprob": float("-inf")},
                    {"token": "x", "logprob": float("nan")},
                ],
            }
        ]
    }
    # -inf (ruled out) is kept at a floor a record can hold; NaN is no number at all.
    assert first_top_logprobs(chat) == {"unsafe": -0.1, "safe": LOGPROB_FLOOR}
    assert first_top_logprobs({"top_logprobs": [{"Yes": -0.5, "No": -1.0}]}) == {
        "Yes": -0.5,
        "No": -1.0,
    }
    assert first_top_logprobs({"content": []}) is None
    assert first_top_logprobs(None) is None
