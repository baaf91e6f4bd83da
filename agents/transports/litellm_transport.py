"""The transport that reaches every provider: ``litellm.acompletion``, plain or streamed."""

from __future__ import annotations

from typing import Any

from agents.llm import litellm
from agents.spec import ModelSpec
from agents.transports.base import MalformedReply, Messages, Reply, Route, transport_kind
from safebench.records import Usage


class LiteLLMTransport:
    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        kwargs: dict[str, Any] = dict(spec.params)
        kwargs.update(model=route.litellm_model, messages=messages, num_retries=0, max_retries=0)
        if route.api_base:
            kwargs["api_base"] = route.api_base
        if route.api_key:
            kwargs["api_key"] = route.api_key
        if not stream:
            response = await litellm.acompletion(**kwargs)
            choice = response.choices[0]
            text = choice.message.content
            if text is None:
                raise MalformedReply("the reply had no message content")
            return Reply(text, choice.finish_reason, usage_of(getattr(response, "usage", None)))
        kwargs.update(stream=True, stream_options={"include_usage": True})
        response = await litellm.acompletion(**kwargs)
        parts: list[str] = []
        finish: str | None = None
        usage = Usage()
        async for chunk in response:
            if chunk.choices:
                choice = chunk.choices[0]
                delta = getattr(choice, "delta", None)
                content = getattr(delta, "content", None) if delta is not None else None
                if content:
                    parts.append(content)
                finish = choice.finish_reason or finish
            chunk_usage = getattr(chunk, "usage", None)
            if chunk_usage:
                usage = usage_of(chunk_usage)
        if finish is None:
            # litellm ends a cut stream quietly; an answer without its end is not an answer.
            raise MalformedReply("the stream ended without a finish reason (truncated)")
        return Reply("".join(parts), finish, usage)

    async def aclose(self) -> None:
        return None


def usage_of(raw: Any) -> Usage:
    """Token counts from an OpenAI-shaped usage object or dict (missing counts are 0)."""
    if raw is None:
        return Usage()
    if isinstance(raw, dict):
        prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    else:
        prompt = getattr(raw, "prompt_tokens", None)
        completion = getattr(raw, "completion_tokens", None)
    return Usage(prompt_tokens=int(prompt or 0), completion_tokens=int(completion or 0))


@transport_kind("litellm")
def litellm_transport() -> LiteLLMTransport:
    """Every provider litellm knows (openai, anthropic, gemini, ollama, hosted_vllm, …)."""
    return LiteLLMTransport()
