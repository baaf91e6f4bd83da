"""The ``hf`` transport: local transformers models in this process, no server in between.

``hf/<dir or hub id>`` generates with the checkpoint's own chat template (text, image-text
or audio-text); ``hf-classifier/<dir or hub id>`` answers a juror prompt with a vote, from
a sequence-classification head or a generative judge's next-token probabilities. Both
batch concurrent calls to the same model (see ``agents/local/batcher.py``) and take their
options from the spec's ``params`` (``HFOptions``, ``ClassifierOptions`` in
``agents/local/options.py``).

Weights are loaded once per model string per process, in a worker thread; generation runs
in a thread too, so the gateway's event loop (timeouts, other providers) keeps running.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Hashable
from typing import Any

from agents.local.batcher import MicroBatcher
from agents.local.classifier import (
    NO_CASE_REPLY,
    ClassifierRequest,
    classify_batch,
    harmful_index,
    latest_case,
    next_token_ids,
    next_token_logprobs,
    score_next_token_batch,
    sigmoid,
    vote_reply,
)
from agents.local.generation import Generated, GenerationRequest, batch_key, generate_batch
from agents.local.loader import LoadedModel, load, split_model
from agents.local.messages import build_prompt, prompt_as_sent
from agents.local.options import BatchOptions, ClassifierOptions, HFOptions, parse_options
from agents.spec import ModelSpec
from agents.transports.base import Messages, Reply, Route, transport_kind
from kernel.errors import ConfigError
from kernel.records import Usage


class HFTransport:
    """Runs ``hf/…`` and ``hf-classifier/…`` models; one batcher per model and batch options."""

    def __init__(self) -> None:
        self._batchers: dict[Hashable, MicroBatcher[Any, Any]] = {}

    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        kind, _ = split_model(spec.model)
        if kind == "classifier":
            return await self._classify(spec, messages)
        return await self._generate(spec, messages, stream)

    async def _generate(self, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        options = parse_options(HFOptions, spec.model, spec.params)
        loaded = await asyncio.to_thread(load, spec.model, options)
        prompt = await asyncio.to_thread(build_prompt, loaded, messages)
        streamer = None
        if stream:
            from transformers import AsyncTextIteratorStreamer

            # Made here: it hands text to this event loop from the generating thread.
            streamer = AsyncTextIteratorStreamer(
                loaded.tokenizer, skip_prompt=True, skip_special_tokens=True
            )
        request = GenerationRequest(prompt, options, streamer)
        batcher = self._batcher(
            loaded, options, "generate", lambda items: generate_batch(loaded, items)
        )
        if streamer is None:
            result: Generated = await batcher.submit(request, batch_key(request))
            text = result.text
        else:
            chunks: list[str] = []
            reader = asyncio.ensure_future(_read_stream(streamer, chunks))
            try:
                result = await batcher.submit(request, batch_key(request))
                await reader
            finally:
                if not reader.done():
                    reader.cancel()
            loaded.stats.stream_chunks += len(chunks)
            text = "".join(chunks)
        loaded.stats.prompt_tokens += result.prompt_tokens
        loaded.stats.completion_tokens += result.completion_tokens
        usage = Usage(
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens
        )
        return Reply(text, result.finish_reason, usage)

    async def _classify(self, spec: ModelSpec, messages: Messages) -> Reply:
        options = parse_options(ClassifierOptions, spec.model, spec.params)
        generative = options.scoring == "next_token"
        loaded = await asyncio.to_thread(
            load, spec.model, options, "generator" if generative else "classifier"
        )
        # A wrong label or token is a config error, raised before any batch runs.
        if generative:
            next_token_ids(loaded, options)
            run = score_next_token_batch
        else:
            harmful_index(loaded, options)
            run = classify_batch
        key = json.dumps(options.model_dump(), sort_keys=True, default=str)
        if options.prompt_in_message:
            return await self._score_as_sent(loaded, options, messages, key)
        case = latest_case(messages)
        if case is None:
            return Reply(NO_CASE_REPLY, "stop", Usage())
        batcher = self._batcher(loaded, options, run.__name__, lambda items: run(loaded, items))
        probability: float = await batcher.submit(ClassifierRequest(case, options), key)
        return Reply(vote_reply(case, probability, options, spec.model), "stop", Usage())

    async def _score_as_sent(
        self, loaded: LoadedModel, options: ClassifierOptions, messages: Messages, key: str
    ) -> Reply:
        """A judge format's prompt scored on its next token: the reply is the more likely of
        the two words (harmful at ``threshold``), with both words' log-probabilities, as a
        server asked for ``logprobs`` would give them."""
        if options.scoring != "next_token":
            raise ConfigError(
                f"{loaded.name}: prompt_in_message needs scoring: next_token (a judge format "
                "is read from the model's next token)"
            )
        last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        if last is None:
            return Reply(NO_CASE_REPLY, "stop", Usage())
        prompt = await asyncio.to_thread(prompt_as_sent, loaded, last, add_bos=options.add_bos)
        batcher = self._batcher(
            loaded, options, "logprobs", lambda items: next_token_logprobs(loaded, items)
        )
        request = ClassifierRequest(None, options, prompt)
        harm, safe = await batcher.submit(request, (key, *prompt.media))
        probability = sigmoid(harm - safe)
        word = options.harmful_token if probability >= options.threshold else options.safe_token
        return Reply(
            word,
            "stop",
            Usage(),
            {options.harmful_token: harm, options.safe_token: safe},
        )

    def _batcher(
        self, loaded: LoadedModel, options: BatchOptions, kind: str, run: Any
    ) -> MicroBatcher[Any, Any]:
        """One batcher per model, batch options and kind of work: a batch runs one function
        (a seat scoring a format's prompt and one scoring a brief share a checkpoint, never
        a batch: their results differ in shape)."""
        batch = BatchOptions.model_validate(
            options.model_dump(include=set(BatchOptions.model_fields))
        )
        key = (loaded.name, id(loaded), batch, kind)
        found = self._batchers.get(key)
        if found is None:
            found = self._batchers[key] = MicroBatcher(loaded.name, run, batch, loaded.stats)
        return found

    async def aclose(self) -> None:
        batchers, self._batchers = self._batchers, {}
        for batcher in batchers.values():
            await batcher.aclose()


async def _read_stream(streamer: Any, chunks: list[str]) -> None:
    async for chunk in streamer:
        if chunk:
            chunks.append(chunk)


@transport_kind("hf")
def hf_transport() -> HFTransport:
    """Local transformers checkpoints (``hf/…`` generators, ``hf-classifier/…`` jurors)."""
    return HFTransport()
