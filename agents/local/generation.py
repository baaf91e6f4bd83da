"""One ``generate`` call for a batch of prompts: pad, run, cut each row, count tokens.

Streaming: a batch of one whose request asked to stream runs with that request's
``AsyncTextIteratorStreamer``, so text reaches the event loop as it is generated. A
larger batch is not streamed token by token (transformers' streamers serve one row); each
streamed request of it receives its whole answer as one chunk when the batch ends. Either
way the reply is the same text, so batching is never given up for streaming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from agents.local.batcher import OverBudget
from agents.local.loader import LoadedModel
from agents.local.messages import Prompt
from agents.local.options import HFOptions


@dataclass
class GenerationRequest:
    prompt: Prompt
    options: HFOptions
    streamer: Any | None = None
    """An ``AsyncTextIteratorStreamer`` made on the event loop, when the call streams."""


@dataclass(frozen=True)
class Generated:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def batch_key(request: GenerationRequest) -> tuple[Any, ...]:
    """Requests with equal keys may share a ``generate`` call."""
    prompt = request.prompt
    key = request.options.generation_key()
    return (*key, *prompt.media, prompt.templated, prompt.special_tokens)


def encode_prompts(loaded: LoadedModel, prompts: list[Prompt]) -> Any:
    """The batch's model inputs, left padded, media through the checkpoint's processor."""
    texts = [p.text for p in prompts]
    special = prompts[0].special_tokens
    if loaded.processor is loaded.tokenizer:
        # A chat template already wrote the BOS token; a plain prompt still needs it.
        add = not prompts[0].templated if special is None else special
        return loaded.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=add)
    kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
    if special is not None:
        kwargs["add_special_tokens"] = special
    images = [image for p in prompts for image in p.images]
    audios = [audio for p in prompts for audio in p.audios]
    if images:
        kwargs["images"] = images
    if audios:
        kwargs["audio"] = audios
        kwargs["sampling_rate"] = loaded.sampling_rate
    return loaded.processor(**kwargs)


def _eos_ids(loaded: LoadedModel) -> set[int]:
    """The tokens generate stops at: the generation config's, else the model's, else the
    tokenizer's end token."""
    for source in (loaded.model.generation_config, loaded.model.config, loaded.tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            return {value}
        if isinstance(value, list | tuple) and value:
            return {int(v) for v in value}
    return set()


def generate_batch(loaded: LoadedModel, requests: list[GenerationRequest]) -> list[Generated]:
    """Answers to ``requests`` (which share one batch key), in order. Blocking."""
    options = requests[0].options
    inputs = encode_prompts(loaded, [r.prompt for r in requests])
    input_ids = inputs["input_ids"]
    rows, width = input_ids.shape
    budget = options.max_batch_tokens
    if budget is not None and rows * (width + options.new_tokens) > budget:
        raise OverBudget(
            f"a batch of {rows} x ({width} prompt + {options.new_tokens} new) tokens is over "
            f"max_batch_tokens={budget}"
        )
    stats = loaded.stats
    if "pixel_values" in inputs:
        stats.pixel_values.append(tuple(inputs["pixel_values"].shape))
    if "input_features" in inputs:
        stats.audio_features.append(tuple(inputs["input_features"].shape))
    streamer = requests[0].streamer if rows == 1 else None
    pad_id = loaded.tokenizer.pad_token_id
    kwargs: dict[str, Any] = {
        "max_new_tokens": options.new_tokens,
        "do_sample": options.sampling,
        "pad_token_id": pad_id,
    }
    if options.ignore_eos:
        kwargs["min_new_tokens"] = options.new_tokens
    if options.sampling:
        kwargs.update(temperature=options.temperature or 1.0, top_p=options.top_p)
    if streamer is not None:
        kwargs["streamer"] = streamer
    device = loaded.device
    inputs = inputs.to(device)
    with loaded.lock, torch.inference_mode():
        if options.seed is not None:
            torch.manual_seed(options.seed)
        try:
            output = loaded.model.generate(**inputs, **kwargs)
        except BaseException:
            if streamer is not None:
                streamer.end()  # the consumer must not wait for text that never comes
            raise
    eos = set() if options.ignore_eos else _eos_ids(loaded)
    mask = inputs.get("attention_mask")
    answers: list[Generated] = []
    for row, request in enumerate(requests):
        new = output[row, width:].tolist()
        cut = next((i for i, token in enumerate(new) if token in eos), None)
        kept = new[:cut] if cut is not None else new
        text = loaded.tokenizer.decode(kept, skip_special_tokens=True)
        prompt_tokens = int(mask[row].sum()) if mask is not None else width
        answers.append(
            Generated(text, "stop" if cut is not None else "length", prompt_tokens, len(kept))
        )
        if request.streamer is not None and streamer is None:
            request.streamer.on_finalized_text(text, stream_end=True)
    return answers
