"""Requests for the simulated targets, with real media: typographic, solid, noise and picture
images as data URIs, and synthetic voiced speech at a chosen pitch as WAV."""

from __future__ import annotations

import base64
import io
import tempfile
import wave
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from generation.image_controls import noise_png, solid_png
from generation.typography import render_typographic_image
from safebench.offline.wire import ChatRequest

SIZE = (256, 256)


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


@lru_cache(maxsize=256)
def typographic_png(text: str, size: tuple[int, int] = SIZE) -> bytes:
    """``text`` drawn as the seed and the typographic attack draw it (FigStep style)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.png"
        render_typographic_image(text, path, size=size)
        return path.read_bytes()


def picture_png(seed: int, size: tuple[int, int] = SIZE) -> bytes:
    """A smooth colour gradient with a few filled shapes: a picture, neither page nor noise."""
    width, height = size
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 255) // width, (y * 255) // height, (seed * 37 + x + y) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    draw = ImageDraw.Draw(image)
    for k in range(3):
        left = (seed * 29 + k * 61) % (width // 2)
        top = (seed * 17 + k * 43) % (height // 2)
        draw.ellipse((left, top, left + width // 3, top + height // 3), fill=(20, 120 + k * 40, 60))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def control_png(condition: str, key: str, size: tuple[int, int] = SIZE) -> bytes:
    """An image of ``condition`` (black, white, noise, typographic, picture) for ``key``."""
    if condition == "black":
        return solid_png(size, 0)
    if condition == "white":
        return solid_png(size, 255)
    if condition == "noise":
        return noise_png(size, f"noise::{key}")
    if condition == "typographic":
        return typographic_png(key, size)
    if condition == "picture":
        return picture_png(sum(key.encode()), size)
    raise ValueError(condition)


def voiced_wav(pitch_hz: float, *, seconds: float = 0.4, rate: int = 8000, seed: int = 0) -> bytes:
    """A mono 16-bit WAV of a voiced sound at ``pitch_hz``: a few harmonics under a syllable-like
    envelope (``seed`` shifts the harmonics' weights, so two recordings differ)."""
    t = np.arange(int(seconds * rate)) / rate
    weights = [1.0, 0.6 + 0.05 * (seed % 5), 0.3, 0.15 + 0.02 * (seed % 3)]
    wave_ = sum(w * np.sin(2 * np.pi * pitch_hz * (k + 1) * t) for k, w in enumerate(weights))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3 * t)
    samples = (6000 * envelope * wave_).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


def chat(text: str, *parts: dict[str, Any], model: str = "sim") -> ChatRequest:
    """One user message of ``text`` and the media ``parts``."""
    content: Any = text if not parts else [{"type": "text", "text": text}, *parts]
    return ChatRequest(model=model, messages=[{"role": "user", "content": content}])


def image_part(png: bytes) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": png_uri(png)}}


def audio_part(wav: bytes) -> dict[str, Any]:
    data = base64.b64encode(wav).decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
