"""autogen-agentchat's model client over the gateway: every agent's call takes the choke point.

Jurors, the foreperson and (later) the generation judges are autogen agents; they all get a
``GatewayChatClient`` so that their calls are throttled, retried, cached for resume and
recorded like any other.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from autogen_core import CancellationToken, Image
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from PIL import Image as PILImage
from pydantic import BaseModel

from agents.gateway import Gateway, Messages
from agents.spec import ModelSpec

FinishReason = Literal["stop", "length", "function_calls", "content_filter", "unknown"]


@dataclass
class ReplyUsage(RequestUsage):
    """A reply's token counts, and why the provider ended it, exactly as the gateway got it.

    autogen's ``CreateResult.finish_reason`` is narrowed to its own literals and an agent's
    ``Response`` keeps only the reply's text and its ``models_usage``: this usage is that
    ``models_usage``, so the raw finish reason (``content_filter`` marks a provider refusal)
    travels with the one reply it belongs to, never on the client between calls."""

    finish_reason: str | None = None


def finish_reason_of(usage: RequestUsage | None) -> str | None:
    """The raw finish reason carried by a reply's ``models_usage`` (None if it has none)."""
    return usage.finish_reason if isinstance(usage, ReplyUsage) else None


class SourceImage(Image):
    """An autogen ``Image`` that goes on the wire as the file's own bytes and type.

    autogen's ``Image`` re-encodes every picture as PNG; a juror is meant to see what the
    target saw, so the bytes the target was sent (already sniffed for their true type) are
    kept and sent as they are."""

    def __init__(self, data: bytes, mime_type: str) -> None:
        super().__init__(PILImage.open(io.BytesIO(data)))
        self.raw = data
        self.mime_type = mime_type

    def to_base64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    @property
    def data_uri(self) -> str:
        return f"data:{self.mime_type};base64,{self.to_base64()}"


class SpeechClip(Image):
    """A recording carried through autogen's multimodal message as an ``input_audio`` part.

    autogen's ``MultiModalMessage`` holds only text and images, so speech rides in this
    ``Image`` subclass (a 1x1 placeholder picture) and ``to_openai_messages`` sends it as
    the OpenAI ``input_audio`` part it is."""

    def __init__(self, data: bytes, audio_format: str) -> None:
        super().__init__(PILImage.new("RGB", (1, 1)))
        self.raw = data
        self.audio_format = audio_format

    def to_openai_part(self) -> dict[str, Any]:
        data = base64.b64encode(self.raw).decode("ascii")
        return {"type": "input_audio", "input_audio": {"data": data, "format": self.audio_format}}


class GatewayChatClient(ChatCompletionClient):
    """A ``ChatCompletionClient`` bound to one model spec and one scope (e.g. a juror seat)."""

    def __init__(self, gateway: Gateway, spec: ModelSpec, *, scope: str, role: str) -> None:
        self._gateway = gateway
        self._spec = spec
        self._scope = scope
        self._role = role
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._last = RequestUsage(prompt_tokens=0, completion_tokens=0)

    def bind(self, scope: str) -> None:
        """Serve another scope (the same seat in another case) from a fresh start: an agent
        and its client are reused across cases rather than rebuilt per case."""
        self._scope = scope
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._last = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        if tools:
            raise ValueError("SafeBench agents do not use tools; the jury votes in text")
        completion = await self._gateway.complete(
            self._spec, to_openai_messages(messages), scope=self._scope, role=self._role
        )
        # The finish reason rides on this call's own result (its usage), so concurrent calls
        # on one client can never read each other's.
        usage = ReplyUsage(
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens,
            finish_reason=completion.finish_reason,
        )
        self._last = usage
        self._total = RequestUsage(
            prompt_tokens=self._total.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self._total.completion_tokens + usage.completion_tokens,
        )
        return CreateResult(
            finish_reason=_finish(completion.finish_reason),
            content=completion.text,
            usage=usage,
            cached=completion.cached,
        )

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        # Votes are parsed whole; streaming them token by token would buy nothing.
        result = await self.create(messages, tools=tools, cancellation_token=cancellation_token)
        if isinstance(result.content, str):
            yield result.content
        yield result

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._last

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()
    ) -> int:
        # A rough count (words); exact counts come back from the provider with each reply.
        return sum(len(str(m.content).split()) for m in messages)

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()
    ) -> int:
        return max(0, 128_000 - self.count_tokens(messages))

    @property
    def capabilities(self) -> Any:  # deprecated in autogen, still abstract
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return _MODEL_INFO  # read several times per turn by autogen: built once


_MODEL_INFO = ModelInfo(
    vision=True,
    function_calling=False,
    json_output=True,
    family="unknown",
    structured_output=False,
    multiple_system_messages=True,
)


def to_openai_messages(messages: Sequence[LLMMessage]) -> Messages:
    """autogen's typed messages to the OpenAI chat format litellm speaks."""
    out: Messages = []
    for message in messages:
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            out.append({"role": "user", "content": _user_content(message.content)})
        elif isinstance(message, AssistantMessage):
            if not isinstance(message.content, str):
                raise ValueError("tool calls are not part of a SafeBench deliberation")
            out.append({"role": "assistant", "content": message.content})
        elif isinstance(message, FunctionExecutionResultMessage):
            raise ValueError("tool results are not part of a SafeBench deliberation")
    return out


def _user_content(content: str | list[str | Image]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for item in content:
        if isinstance(item, str):
            parts.append({"type": "text", "text": item})
        elif isinstance(item, SpeechClip):
            parts.append(item.to_openai_part())
        else:
            parts.append({"type": "image_url", "image_url": {"url": item.data_uri}})
    return parts


def _finish(reason: str | None) -> FinishReason:
    if reason in ("stop", "length", "content_filter"):
        return reason  # type: ignore[return-value]
    return "stop" if reason is None else "unknown"
