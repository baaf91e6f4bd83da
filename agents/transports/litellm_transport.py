"""The transport that reaches every provider: ``litellm.acompletion``, plain or streamed."""

from __future__ import annotations

from typing import Any

from agents.llm import litellm  # this module loads only when a route names the transport
from agents.spec import ModelSpec
from agents.transports.base import (
    MalformedReply,
    Messages,
    Reply,
    Route,
    checked_reply,
    first_top_logprobs,
    is_refusal,
    transport_kind,
)
from kernel.records import Usage


class LiteLLMTransport:
    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        kwargs: dict[str, Any] = dict(spec.params)
        # Per call, not only litellm's process globals: the gateway owns retries, and a
        # param a provider does not take is dropped rather than failing the call (unless the
        # juror's or target's own params say ``drop_params: false``).
        kwargs.setdefault("drop_params", True)
        kwargs.update(model=route.litellm_model, messages=messages, num_retries=0, max_retries=0)
        if route.api_base:
            kwargs["api_base"] = route.api_base
        if route.key():
            kwargs["api_key"] = route.key()
        if not stream or _stream_end_unknowable(route):
            response = await litellm.acompletion(**kwargs)
            choices = getattr(response, "choices", None)
            if not choices:
                raise MalformedReply("the reply had no choices")
            choice = choices[0]
            usage = usage_of(getattr(response, "usage", None))
            return checked_reply(
                choice.message.content,
                choice.finish_reason,
                usage,
                first_top_logprobs(getattr(choice, "logprobs", None)),
            )
        kwargs.update(stream=True, stream_options={"include_usage": True})
        response = await litellm.acompletion(**kwargs)
        parts: list[str] = []
        finish: str | None = None
        usage = Usage()
        top: dict[str, float] | None = None
        async for chunk in response:
            if chunk.choices:
                choice = chunk.choices[0]
                if top is None and not parts and getattr(choice, "logprobs", None):
                    top = first_top_logprobs(choice.logprobs)  # the first token's only
                delta = getattr(choice, "delta", None)
                content = getattr(delta, "content", None) if delta is not None else None
                if content:
                    parts.append(content)
                finish = choice.finish_reason or finish
            chunk_usage = getattr(chunk, "usage", None)
            if chunk_usage:
                usage = usage_of(chunk_usage)
            hidden = getattr(chunk, "_hidden_params", None)
            # litellm counts tokens itself when the provider reports none, and marks that
            # stand-in with its own type: only the provider's own count is kept.
            if (
                isinstance(hidden, dict)
                and not chunk_usage
                and type(hidden.get("usage")).__name__ not in ("NoneType", "UnreportedUsage")
            ):
                usage = usage_of(hidden["usage"])
        ended = is_refusal(finish) or _provider_ended(response)
        if finish is None or not ended:
            # litellm closes an empty, HTML or cut stream with a made-up "stop"; an answer
            # whose provider never said it ended is not an answer.
            raise MalformedReply("the stream ended without the provider's end of reply (cut)")
        return checked_reply("".join(parts), finish, usage, top)

    async def aclose(self) -> None:
        return None


def _provider_ended(stream: Any) -> bool:
    """Whether the provider itself ended the stream (not litellm's stand-in "stop").

    litellm's stream wrapper keeps the finish reason the provider sent: when neither the
    final nor an intermittent one arrived, the stream was empty or not a stream at all.
    """
    received = getattr(stream, "received_finish_reason", None)
    intermittent = getattr(stream, "intermittent_finish_reason", None)
    if received is None and intermittent is None:
        return not hasattr(stream, "received_finish_reason")  # another wrapper: trust it
    return True


def _stream_end_unknowable(route: Route) -> bool:
    """Whether litellm's stream of this provider cannot tell a finished reply from a cut one.

    Gemini sends ``usageMetadata`` with every chunk and ``finishReason`` only with the last,
    and litellm's stream wrapper ends a cut Gemini stream exactly as a finished one (the same
    closing "stop" chunk, the same usage), so a half answer would be judged as whole. Such a
    call is sent unstreamed (``generateContent``): a reply cut in transit is then broken JSON,
    retried like any garbled reply. The native Gemini transport reads the stream itself."""
    return route.litellm_model.split("/", 1)[0] in _STREAM_END_UNKNOWABLE


_STREAM_END_UNKNOWABLE = frozenset({"gemini", "vertex_ai", "vertex_ai_beta"})


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
