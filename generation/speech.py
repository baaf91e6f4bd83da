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
from pathlib import Path
from typing import Any

import structlog

from agents.gateway import Gateway
from agents.spec import ModelSpec
from safebench.core.errors import ConfigError

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


def engine_voice(label: str, voices: dict[str, str] | None, tts_model: ModelSpec | None) -> str:
    """The engine's voice name for ``label`` (``male``/``female`` or a configured one)."""
    if voices and label in voices:
        return voices[label]
    defaults = ESPEAK_VOICES if tts_model is None else TTS_VOICES
    if label in defaults:
        return defaults[label]
    raise ConfigError(
        f"voice {label!r} has no engine voice; map it in MediaSettings.voices "
        f"(e.g. {{{label!r}: 'en-us+m3'}})"
    )


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


async def speak(
    text: str,
    label: str,
    *,
    gateway: Gateway,
    tts_model: ModelSpec | None,
    voices: dict[str, str] | None,
    scope: str,
) -> bytes:
    """``text`` in the voice labelled ``label``, offline or with the TTS model."""
    voice = engine_voice(label, voices, tts_model)
    if tts_model is None:
        return await espeak_wav(text, voice)
    return await tts_wav(gateway, tts_model, text, voice, scope=scope)


