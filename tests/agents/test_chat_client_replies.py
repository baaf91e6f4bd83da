"""A reply's finish reason comes back with that reply, never on the client between calls.

Two calls at once on one client (one refused by its provider, one answered) each read their
own finish reason from their own result, and the client keeps no ``last_finish_reason``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken
from autogen_core.models import UserMessage

from agents.chat_client import GatewayChatClient, ReplyUsage, finish_reason_of
from agents.gateway import Completion
from agents.spec import ModelSpec
from agents.transports.base import REFUSED
from jury.courtroom import Said
from kernel.records import Usage


class ScriptedGateway:
    """Answers each message by its text: ``refuse`` is refused (after the other call)."""

    def __init__(self) -> None:
        self.answered = asyncio.Event()

    async def complete(self, spec: ModelSpec, messages: Any, **_: Any) -> Completion:
        text = messages[-1]["content"]
        if "refuse" in text:
            await self.answered.wait()  # finishes last: a shared "last reason" would be its
            return _completion("", REFUSED)
        self.answered.set()
        return _completion("An answer.", "stop")


def _completion(text: str, finish: str) -> Completion:
    usage = Usage(prompt_tokens=3, completion_tokens=2)
    return Completion(text, "k", finish, usage, 0.0, 0.0, 0, False)


def _client(gateway: ScriptedGateway) -> GatewayChatClient:
    spec = ModelSpec(model="openai/gpt-4o-mini")
    return GatewayChatClient(gateway, spec, scope="s", role="juror")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_concurrent_calls_on_one_client_each_get_their_own_finish_reason() -> None:
    client = _client(ScriptedGateway())
    refused, answered = await asyncio.gather(
        client.create([UserMessage(content="please refuse", source="u")]),
        client.create([UserMessage(content="please answer", source="u")]),
    )
    assert refused.finish_reason == "content_filter" and refused.content == ""
    assert finish_reason_of(refused.usage) == REFUSED
    assert answered.finish_reason == "stop" and finish_reason_of(answered.usage) == "stop"
    assert isinstance(answered.usage, ReplyUsage)
    assert not hasattr(client, "last_finish_reason")


@pytest.mark.asyncio
async def test_an_agents_response_carries_its_replys_finish_reason() -> None:
    # The courtroom reads a refusal from the agent's response (its models_usage), which
    # autogen's AssistantAgent hands back as the client returned it.
    gateway = ScriptedGateway()
    gateway.answered.set()
    agent = AssistantAgent(name="juror_1", model_client=_client(gateway))
    response = await agent.on_messages(
        [TextMessage(content="please refuse", source="clerk")], CancellationToken()
    )
    assert finish_reason_of(response.chat_message.models_usage) == REFUSED
    said = Said("", finish_reason_of(response.chat_message.models_usage))
    assert said.refused and said == ""
    assert not Said("  text ", REFUSED).refused and not Said("", "stop").refused
