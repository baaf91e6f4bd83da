"""Any litellm model as a target: text, image as a data URI, audio as ``input_audio`` (in the
case's voice, with the written text too for ``audio+text``)."""

from __future__ import annotations

import base64
from typing import Any

from agents.gateway import Gateway
from agents.media import audio_for_model, image_for_model
from kernel.errors import DatasetError
from kernel.records import MediaRef, Modality, Query, modality_has_text, modality_kind
from targets.base import TargetConfig, TargetContext, TargetReply, target_kind
from targets.capabilities import declared_modalities

SPOKEN_CUE = "Answer the spoken request."
"""The text part of an audio-only case: an instruction, never the request itself."""


class LiteLLMTarget:
    def __init__(self, config: TargetConfig, context: TargetContext) -> None:
        self.config = config
        self.name = config.display_name
        self.accepts = declared_modalities(config.model, config.accepts, config.params)
        self.root = context.dataset_root
        assert isinstance(context.gateway, Gateway)
        self.gateway = context.gateway

    async def answer(self, query: Query, modality: Modality, *, case_id: str) -> TargetReply:
        messages: list[dict[str, Any]] = []
        if self.config.system_prompt:
            messages.append({"role": "system", "content": self.config.system_prompt})
        messages.append({"role": "user", "content": self._content(query, modality)})
        completion = await self.gateway.complete(
            self.config,
            messages,
            scope=f"{case_id}/target",
            role="target",
            stream=self.config.stream,
        )
        return TargetReply(completion.text, completion.key, completion.finish_reason)

    def _content(self, query: Query, modality: Modality) -> str | list[dict[str, Any]]:
        kind = modality_kind(modality)
        if kind == "text":
            return query.text
        ref = query.media_for(modality)
        if ref is None:  # the case runner skips these first; never send a case without its media
            raise DatasetError(f"query {query.id!r}: {query.missing_input(modality)}")
        if kind == "image":
            return [
                {"type": "text", "text": query.text},
                {"type": "image_url", "image_url": {"url": self._data_uri(ref)}},
            ]
        # The container is read from the bytes: a file declared WAV that is not audio fails
        # its case (DatasetError) instead of reaching the model as noise.
        audio = audio_for_model(self.root, ref)
        data = base64.b64encode(audio.data).decode("ascii")
        # ``audio``: the speech alone, with a fixed cue (the request is only in the speech);
        # ``audio+text``: the speech and the query's written text in the same message.
        prompt = query.text if modality_has_text(modality) else SPOKEN_CUE
        return [
            {"type": "text", "text": prompt},
            {"type": "input_audio", "input_audio": {"data": data, "format": audio.audio_format}},
        ]

    def _data_uri(self, ref: MediaRef) -> str:
        # Refused when unreadable, oversized, animated or of a type models do not take
        # (DatasetError: a failed case); sent with the type its bytes say, not the declared.
        image = image_for_model(self.root, ref)
        data = base64.b64encode(image.data).decode("ascii")
        return f"data:{image.mime_type};base64,{data}"


@target_kind("litellm")
def litellm_target(config: TargetConfig, context: TargetContext) -> LiteLLMTarget:
    """Any model litellm reaches, streamed through the gateway."""
    return LiteLLMTarget(config, context)
