"""Media as a model is sent them: an image checked and sniffed, speech by its container.

A dataset's declared MIME type is a claim. A JPEG declared ``image/png`` is sent with a data
URI that lies, and providers either refuse it or decode it as something else; a text file
declared ``audio/wav`` would reach a speech model as noise. Images are identified by Pillow,
audio by its container's magic bytes. A file that is not a type models take fails its case
with a reason naming the file. Targets and jurors read media here, so both send the same
bytes with the same type. Pillow is imported on first use: most runs send no image.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import structlog

from kernel.errors import DatasetError
from kernel.media import read_media
from kernel.records import MediaRef

log = structlog.get_logger(__name__)

MAX_IMAGE_PIXELS = 8000 * 8000
"""Largest image (width x height) sent to a model. The biggest that major providers take is
about this (8000 px a side); a larger one is refused before it is read whole or sent, since
decoding or base64-encoding a decompression bomb would cost the run its memory."""

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
"""Pillow's format name -> the MIME type sent: the still-image types that the major
multimodal APIs (OpenAI, Anthropic, Gemini, vLLM) all accept."""


@dataclass(frozen=True)
class Sniffed:
    """A media file's bytes with the type its bytes say (not the type declared)."""

    data: bytes
    mime_type: str
    audio_format: str | None = None
    """For audio: the ``input_audio`` format name (``wav``, ``mp3``)."""


def read_image(root: Path, ref: MediaRef, max_pixels: int = MAX_IMAGE_PIXELS) -> bytes:
    """The bytes of an image ``ref`` names, once checked: digest, readable, not too large.

    Only the image's header is parsed for its size and its chunks verified; nothing is
    decoded to pixels, so a 100-megapixel file costs no more memory than its bytes.
    """
    from PIL import Image, UnidentifiedImageError

    data = read_media(root, ref)
    where = f"{root}: image {ref.path!r}"
    try:
        with warnings.catch_warnings():
            # Pillow warns (then raises) about decompression bombs; the check below is ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DatasetError(
                        f"{where} is {width}x{height} ({width * height / 1e6:.1f} megapixels), "
                        f"over the {max_pixels / 1e6:.0f}-megapixel limit; downscale it in the "
                        "dataset"
                    )
                image.verify()
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{where} is too large to open safely: {exc}") from exc
    except UnidentifiedImageError:
        # Pillow's own message names an in-memory buffer (<_io.BytesIO object at 0x…>).
        raise DatasetError(f"{where} is not an image (no image format recognised)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{where} is not a readable image: {exc}") from exc
    return data


def image_for_model(root: Path, ref: MediaRef) -> Sniffed:
    """The image ``ref`` names, with its true type; refused when models cannot take it."""
    from PIL import Image, UnidentifiedImageError

    data = read_image(root, ref)  # digest, readable, size
    where = f"{root}: image {ref.path!r}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or "unknown"
                frames = int(getattr(image, "n_frames", 1) or 1)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"{where} is not a readable image ({type(exc).__name__})") from None
    mime = IMAGE_TYPES.get(kind)
    if mime is None:
        accepted = ", ".join(IMAGE_TYPES)
        raise DatasetError(f"{where} is {kind}, not a type models take ({accepted}); convert it")
    if frames > 1:
        raise DatasetError(
            f"{where} is an animated {kind} ({frames} frames); models take still images, so "
            "convert it to one frame (PNG)"
        )
    if mime != ref.mime_type:
        log.warning("media_type_corrected", file=ref.path, declared=ref.mime_type, actual=mime)
    return Sniffed(data, mime)


def audio_for_model(root: Path, ref: MediaRef) -> Sniffed:
    """The audio ``ref`` names, with its true container; refused when it is not audio."""
    data = read_media(root, ref)
    kind = audio_kind(data)
    if kind is None:
        raise DatasetError(
            f"{root}: audio {ref.path!r} is declared {ref.mime_type} but its bytes are not WAV "
            f"or MP3 audio (they start {data[:12]!r})"
        )
    mime, audio_format = kind
    if mime != ref.mime_type:
        log.warning("media_type_corrected", file=ref.path, declared=ref.mime_type, actual=mime)
    return Sniffed(data, mime, audio_format)


def audio_kind(data: bytes) -> tuple[str, str] | None:
    """``(mime, input_audio format)`` from the bytes' container header, or None."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav", "wav"
    if data[:3] == b"ID3" or (len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg", "mp3"
    return None
