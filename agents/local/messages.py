"""OpenAI-style chat messages to what a local checkpoint's chat template and processor take.

Targets send text parts, images as ``image_url`` data URIs and audio as ``input_audio``
base64 WAV (see ``targets/litellm_target.py``). A multimodal processor gets content lists
with ``{"type": "image"}`` / ``{"type": "audio"}`` placeholders, in the order the media
came, plus the decoded PIL images and waveforms; a text-only tokenizer gets plain strings.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import wave
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from agents.local.loader import LoadedModel
from kernel.records import ModalityKind

DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,(.*)$", re.DOTALL)


class UnsupportedInput(RuntimeError):
    """A request this checkpoint cannot take (media it has no encoder for, a broken file).

    A RuntimeError, not a ValueError: the gateway retries ValueErrors as garbled replies,
    and sending the same image to a text-only model again cannot help.
    """


@dataclass
class Prompt:
    """One request, ready for the batch: the templated text and its media, in order."""

    text: str
    images: list[Image.Image] = field(default_factory=list)
    audios: list[np.ndarray] = field(default_factory=list)
    templated: bool = True
    """False when the checkpoint has no chat template and the turns were joined plainly."""
    special_tokens: bool | None = None
    """Whether encoding adds the tokenizer's special tokens (its BOS); None: the default
    (added to a plain prompt, not to a templated one, which wrote its own)."""

    @property
    def media(self) -> tuple[bool, bool]:
        """Whether it carries images, audio: rows of one batch agree on this."""
        return bool(self.images), bool(self.audios)


def build_prompt(loaded: LoadedModel, messages: list[dict[str, Any]]) -> Prompt:
    """Decode media, check the checkpoint takes them, and apply its chat template."""
    multimodal = loaded.modalities != {"text"}
    conversation: list[dict[str, Any]] = []
    images: list[Image.Image] = []
    audios: list[np.ndarray] = []
    for index, message in enumerate(messages):
        role = str(message.get("role", "user"))
        parts: list[dict[str, Any]] = []
        for part in _parts(message.get("content")):
            kind = part.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": str(part.get("text", ""))})
            elif kind == "image_url":
                _require(loaded, "image", index)
                images.append(decode_image(part.get("image_url"), index))
                parts.append({"type": "image"})
            elif kind == "input_audio":
                _require(loaded, "audio", index)
                audios.append(decode_audio(part.get("input_audio"), index, loaded.sampling_rate))
                parts.append({"type": "audio"})
            else:
                raise UnsupportedInput(f"message {index}: unsupported content part {kind!r}")
        if multimodal:
            conversation.append({"role": role, "content": parts})
        else:
            text = "\n".join(p["text"] for p in parts)
            conversation.append({"role": role, "content": text})
    text, templated = _apply_template(loaded, conversation)
    return Prompt(text, images, audios, templated)


def prompt_as_sent(loaded: LoadedModel, message: dict[str, Any], *, add_bos: bool) -> Prompt:
    """One message's text as the whole prompt, no chat template (a judge format's prompt
    already carries the model's own turn markers), with its images decoded in order."""
    texts: list[str] = []
    images: list[Image.Image] = []
    for part in _parts(message.get("content")):
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            _require(loaded, "image", 0)
            images.append(decode_image(part.get("image_url"), 0))
        else:
            raise UnsupportedInput(f"a judge format's prompt carries a {kind!r} part")
    return Prompt("".join(texts), images, [], templated=False, special_tokens=add_bos)


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [p if isinstance(p, dict) else {"type": "text", "text": str(p)} for p in content]
    return [{"type": "text", "text": str(content)}]


def _require(loaded: LoadedModel, modality: ModalityKind, index: int) -> None:
    if modality not in loaded.modalities:
        takes = ", ".join(sorted(loaded.modalities))
        raise UnsupportedInput(
            f"{loaded.name}: message {index} carries {modality}, but the checkpoint "
            f"{loaded.source!r} takes only {takes} (its config has no "
            f"{'vision' if modality == 'image' else 'audio'}_config); declare the target's "
            f"accepts without {modality}"
        )


def _apply_template(loaded: LoadedModel, conversation: list[dict[str, Any]]) -> tuple[str, bool]:
    owner = loaded.processor
    template = getattr(owner, "chat_template", None) or getattr(
        loaded.tokenizer, "chat_template", None
    )
    if template is None:
        # A base checkpoint without a template: plain turns, then the answer's cue.
        turns = [_flat_text(m["content"]) for m in conversation if _flat_text(m["content"]).strip()]
        return "\n\n".join(turns) + "\n\n", False
    if getattr(owner, "chat_template", None) is None:
        owner = loaded.tokenizer
    text = owner.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    return str(text), True


def _flat_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def decode_image(image_url: Any, index: int) -> Image.Image:
    """A PIL image from ``{"url": "data:image/png;base64,…"}`` (or a bare data URI)."""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    match = DATA_URI.match(url) if isinstance(url, str) else None
    if match is None:
        raise UnsupportedInput(
            f"message {index}: a local model takes images as base64 data URIs, not {url!r:.80}"
        )
    try:
        with Image.open(io.BytesIO(base64.b64decode(match.group(2)))) as image:
            return image.convert("RGB")
    except (binascii.Error, UnidentifiedImageError, OSError) as exc:
        raise UnsupportedInput(f"message {index}: the image cannot be decoded: {exc}") from None


def decode_audio(input_audio: Any, index: int, sampling_rate: int) -> np.ndarray:
    """A mono float32 waveform at ``sampling_rate`` from ``{"data": base64, "format": "wav"}``."""
    if not isinstance(input_audio, dict) or not isinstance(input_audio.get("data"), str):
        raise UnsupportedInput(f"message {index}: input_audio needs base64 'data'")
    audio_format = str(input_audio.get("format", "wav")).lower()
    if audio_format != "wav":
        raise UnsupportedInput(
            f"message {index}: a local model takes audio as WAV, not {audio_format!r}"
        )
    try:
        with wave.open(io.BytesIO(base64.b64decode(input_audio["data"]))) as reader:
            channels, width, rate = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            frames = reader.readframes(reader.getnframes())
    except (binascii.Error, wave.Error, EOFError) as exc:
        raise UnsupportedInput(f"message {index}: the WAV cannot be read: {exc}") from None
    if width not in (1, 2, 4):
        raise UnsupportedInput(f"message {index}: {8 * width}-bit WAV is not supported")
    if width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        dtype = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(frames, dtype=dtype).astype(np.float32) / float(np.iinfo(dtype).max)
    samples = samples.reshape(-1, channels).mean(axis=1)
    return resample(samples, rate, sampling_rate)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear resampling: enough for speech encoders fed at 16 kHz from espeak's 22 kHz."""
    if rate == target or samples.size == 0:
        return samples.astype(np.float32)
    duration = samples.size / rate
    count = max(1, round(duration * target))
    positions = np.linspace(0, samples.size - 1, count)
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)
