"""Small real media files for tests: images Pillow writes and WAV audio the wave module writes."""

from __future__ import annotations

import io
import math
import struct
import wave

from PIL import Image


def image_bytes(
    fmt: str,
    frames: int = 1,
    color: tuple[int, int, int] = (40, 90, 160),
    size: tuple[int, int] = (32, 24),
) -> bytes:
    """An image in Pillow format ``fmt`` (PNG, JPEG, GIF, WEBP, BMP); ``frames`` > 1 animates."""
    images = [
        Image.new("RGB", size, (min(255, color[0] + 40 * i), *color[1:])) for i in range(frames)
    ]
    out = io.BytesIO()
    if frames > 1:
        images[0].save(out, format=fmt, save_all=True, append_images=images[1:], duration=100)
    else:
        images[0].save(out, format=fmt)
    return out.getvalue()


def wav_bytes(rate: int = 8000, samples: int = 800) -> bytes:
    """A mono 16-bit WAV holding a short tone."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        tone = (int(8000 * math.sin(i / 5)) for i in range(samples))
        wav.writeframes(b"".join(struct.pack("<h", s) for s in tone))
    return out.getvalue()
