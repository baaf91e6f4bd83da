"""Each query spoken aloud, in a male and a female voice (the paper's audio modality).

Offline the speaker is espeak-ng, run as a subprocess with the text on stdin (never through
a shell). Online it is any litellm ``aspeech`` model (e.g. ``openai/tts-1``), called through
the gateway's retry and accounting rules. Both write WAV.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from agents.gateway import Gateway
from agents.spec import ModelSpec
from kernel.errors import ConfigError
from kernel.registry import Registry

log = structlog.get_logger(__name__)

ESPEAK_BINARY = "espeak-ng"
ESPEAK_VOICES: dict[str, str] = {"male": "en-us+m3", "female": "en-us+f3"}
"""espeak-ng voice for each voice label (language plus variant)."""
TTS_VOICES: dict[str, str] = {"male": "onyx", "female": "nova"}
"""OpenAI-style TTS voice for each voice label."""
_ESPEAK_TIMEOUT_S = 120.0


def espeak_path() -> str:
    """The espeak-ng executable, or a ConfigError saying how to install it."""
    found = shutil.which(ESPEAK_BINARY)
    if found is None:
        raise ConfigError(
            "espeak-ng is not installed, and offline speech needs it: run `make system-deps` "
            "(it runs `apt-get install -y espeak-ng`), or set a TTS model (--tts-model "
            "openai/tts-1), or skip speech (--no-audio)"
        )
    return found


async def espeak_wav(text: str, voice: str) -> bytes:
    """``text`` spoken by espeak-ng in ``voice``, as WAV bytes."""
    binary = espeak_path()
    with tempfile.TemporaryDirectory(prefix="safebench-speech-") as tmp:
        out = Path(tmp) / "speech.wav"
        # Text on stdin, arguments as a list: nothing in a query can reach a shell or an option.
        process = await asyncio.create_subprocess_exec(
            binary,
            "-v",
            voice,
            "-w",
            str(out),
            "--stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(_ESPEAK_TIMEOUT_S):
                _, stderr = await process.communicate(text.encode("utf-8"))
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(f"espeak-ng took over {_ESPEAK_TIMEOUT_S:g}s") from None
        if process.returncode != 0:
            message = stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"espeak-ng -v {voice} failed ({process.returncode}): {message}")
        data = await asyncio.to_thread(out.read_bytes)
    if not data.startswith(b"RIFF"):
        raise RuntimeError(f"espeak-ng -v {voice} wrote no WAV")
    return data


async def tts_wav(gateway: Gateway, spec: ModelSpec, text: str, voice: str, *, scope: str) -> bytes:
    """``text`` spoken by a litellm TTS model in ``voice``, as WAV bytes."""
    from agents.llm import litellm

    async def attempt(route: Any) -> bytes:
        kwargs: dict[str, Any] = dict(spec.params)
        # max_retries=0: retries are the gateway's (classified, counted), not the SDK's.
        kwargs.update(
            model=route.litellm_model,
            input=text,
            voice=voice,
            response_format="wav",
            max_retries=0,
        )
        if route.api_base:
            kwargs["api_base"] = route.api_base
        if route.key():
            kwargs["api_key"] = route.key()
        response = await litellm.aspeech(**kwargs)
        data = getattr(response, "content", None)
        if data is None and hasattr(response, "aread"):
            data = await response.aread()
        if not isinstance(data, bytes | bytearray) or not bytes(data).startswith(b"RIFF"):
            raise ValueError("the TTS model did not return WAV audio")
        return bytes(data)

    request = {"model": spec.model, "kind": "speech", "input": text, "voice": voice}
    return await gateway.call(
        spec,
        attempt,
        scope=scope,
        role="tts_model",
        request=request,
        describe=lambda wav: f"audio/wav sha256={hashlib.sha256(wav).hexdigest()}",
    )


class SpeakFn(Protocol):
    """One engine's way to speak ``text`` in its engine ``voice``, as WAV bytes."""

    def __call__(
        self, text: str, voice: str, *, gateway: Gateway, model: ModelSpec | None, scope: str
    ) -> Awaitable[bytes]: ...


@dataclass(frozen=True)
class SpeechEngine:
    """A speaker of query texts, registered by name in ``SPEECH_ENGINES``."""

    speak: SpeakFn
    voices: Mapping[str, str]
    """The engine voice of each voice label, unless ``MediaSettings.voice_names`` maps it."""
    uses_model: bool
    """Whether it speaks with ``MediaSettings.tts_model`` (needed then, refused otherwise)."""
    local: bool
    """Whether it runs on this machine (bounded by ``MediaSettings.speech_processes``)
    rather than as a model call."""
    ready: Callable[[], object] = lambda: None
    """Raises ConfigError (saying how to fix it) when the engine cannot run here; called
    before any work."""


SPEECH_ENGINES: Registry[SpeechEngine] = Registry("speech engine")
"""Speech engines by name: ``espeak`` (espeak-ng, offline) and ``tts`` (a litellm TTS
model). ``MediaSettings.speech_engine`` accepts exactly these names."""


def _espeak(
    text: str, voice: str, *, gateway: Gateway, model: ModelSpec | None, scope: str
) -> Awaitable[bytes]:
    return espeak_wav(text, voice)


def _tts(
    text: str, voice: str, *, gateway: Gateway, model: ModelSpec | None, scope: str
) -> Awaitable[bytes]:
    if model is None:
        raise ConfigError("the tts speech engine needs a TTS model (tts_model)")
    return tts_wav(gateway, model, text, voice, scope=scope)


SPEECH_ENGINES.add(
    "espeak",
    SpeechEngine(_espeak, ESPEAK_VOICES, uses_model=False, local=True, ready=espeak_path),
)
SPEECH_ENGINES.add("tts", SpeechEngine(_tts, TTS_VOICES, uses_model=True, local=False))


def speech_engine(name: str | None, tts_model: ModelSpec | None) -> SpeechEngine:
    """The engine named ``name``; by default the first registered one that speaks with a
    model when ``tts_model`` is set (``tts``) and without one when it is not (``espeak``)."""
    if name is not None:
        return SPEECH_ENGINES.require(name)
    wanted = tts_model is not None
    return next(e for e in SPEECH_ENGINES.values() if e.uses_model == wanted)


def engine_voice(label: str, voices: dict[str, str] | None, engine: SpeechEngine) -> str:
    """The engine's voice name for ``label`` (``male``/``female`` or a configured one)."""
    if voices and label in voices:
        return voices[label]
    if label in engine.voices:
        return engine.voices[label]
    raise ConfigError(
        f"voice {label!r} has no engine voice; map it in MediaSettings.voices "
        f"(e.g. {{{label!r}: 'en-us+m3'}})"
    )


async def speak(
    text: str,
    label: str,
    *,
    gateway: Gateway,
    tts_model: ModelSpec | None,
    voices: dict[str, str] | None,
    scope: str,
    engine: SpeechEngine | None = None,
) -> bytes:
    """``text`` in the voice labelled ``label``, by ``engine`` (by default the one
    ``speech_engine`` picks for ``tts_model``)."""
    engine = engine or speech_engine(None, tts_model)
    voice = engine_voice(label, voices, engine)
    return await engine.speak(text, voice, gateway=gateway, model=tts_model, scope=scope)
