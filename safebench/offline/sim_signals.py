"""What a simulated target reads from a request before it decides how to answer.

:func:`request_signals` reads the last user message: its text, the framing families the text
shows (:mod:`.sim_framing`), what its image shows and whose voice its speech has
(:mod:`.sim_media`), whether the request is written out or only spoken, and the digest of the
media that seed the target's draw (:mod:`.sim_targets` says why these).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from safebench.offline.sim_framing import framings
from safebench.offline.sim_media import (
    ImageCondition,
    PitchClass,
    data_uri_bytes,
    image_condition,
    voice_class,
)
from safebench.offline.wire import ChatRequest, message_text

# A text part of fewer words than this, sent with speech, is a cue ("Answer the spoken
# request."), not the request written out: the request is then in the speech alone.
WRITTEN_MIN_WORDS = 6
# Images whose bytes join the draw's seed: those that show something.
_CONTENT_IMAGES: frozenset[ImageCondition] = frozenset({"typographic", "picture"})
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")


class RequestSignals(BaseModel):
    """What a simulated target reads from a request before it decides how to answer."""

    text: str
    """The last user message's text (its text parts joined)."""
    image: ImageCondition | None = None
    """What the last user message's image shows (:mod:`.sim_media`); None: no image."""
    voice: PitchClass | None = None
    """Whose voice its speech has (:mod:`.sim_media`); None: no speech."""
    written: bool = True
    """Whether the request is written out in the text (False: speech with only a cue)."""
    framings: tuple[str, ...] = ()
    """The framing families the text shows (:mod:`.sim_framing`)."""
    media_digest: str = ""
    """sha256 of the media that seed the draw: images that show something, and speech sent
    without its written text."""


def _last_user_content(request: ChatRequest) -> list[dict[str, Any]]:
    """The parts of the last user message (a string content as one text part)."""
    for message in reversed(request.messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        if isinstance(content, list):
            return [part for part in content if isinstance(part, dict)]
        return []
    return []


def _image_bytes(value: Any) -> bytes | None:
    url = value.get("url") if isinstance(value, Mapping) else value
    return data_uri_bytes(url) if isinstance(url, str) else None


def _audio_bytes(value: Any) -> bytes | None:
    data = value.get("data") if isinstance(value, Mapping) else None
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None


def _raw(value: Any) -> bytes:
    """The part as sent, for the draw's seed (whether or not it decodes)."""
    if isinstance(value, Mapping):
        value = value.get("url") or value.get("data") or ""
    return str(value).encode("utf-8")


def request_signals(request: ChatRequest) -> RequestSignals:
    """What the last user message holds, as a simulated target reads it (pure)."""
    parts = _last_user_content(request)
    text = message_text({"content": parts})
    media = hashlib.sha256()
    image: ImageCondition | None = None
    voice: PitchClass | None = None
    speech = b""
    for part in parts:
        if part.get("type") == "image_url":
            image = image_condition(_image_bytes(part.get("image_url")))
            if image in _CONTENT_IMAGES:
                media.update(_raw(part.get("image_url")))
        elif part.get("type") == "input_audio":
            voice = voice_class(_audio_bytes(part.get("input_audio")))
            speech = _raw(part.get("input_audio"))
    written = voice is None or len(_WORD.findall(text)) >= WRITTEN_MIN_WORDS
    if not written:
        # Speech alone: only the recording tells one query from another. With its written
        # text, the text does, and both voices of a query share the draw.
        media.update(speech)
    return RequestSignals(
        text=text,
        image=image,
        voice=voice,
        written=written,
        framings=framings(text),
        media_digest=media.hexdigest(),
    )
