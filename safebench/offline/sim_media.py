"""What a simulated target "sees" in an image and "hears" in a recording: cheap statistics.

The simulated targets (:mod:`.sim_targets`) answer differently depending on what a request's
media are, so that offline studies (image quality, voices) show structure. They never read
text out of an image nor words out of speech; they classify the media by a few statistics
anyone can check by hand:

Images (decoded with Pillow, in grey levels 0-255, box-reduced to at most 256 pixels a side):

- ``spread``: the standard deviation of the grey levels. Under 4: ``blank`` (a solid black or
  white control).
- ``neighbour_correlation``: the correlation of each pixel with its right-hand neighbour.
  Under 0.25: ``noise`` (uniform noise has none; drawn strokes and photos have much).
- ``light_fraction`` (grey >= 200) and ``ink_fraction`` (grey <= 100): at least 60% light
  pixels and 0.1-35% dark ones is dark marks on a light page: ``typographic`` (the
  FigStep-style images of generation/typography.py, the seed's and the typographic attack's).
- anything else decodable: ``picture`` (a drawn or photographed image); undecodable bytes or a
  URL that is not a ``data:`` URI: ``unreadable``.

Speech (a WAV in ``input_audio``): the fundamental frequency is estimated by autocorrelation
over 40 ms frames of the first 10 s (frames with little energy or no clear period are
skipped) and its median over the voiced frames splits voices at 155 Hz into ``low`` and
``high`` (espeak-ng's ``en-us+m3`` speaks at about 105 Hz, ``en-us+f3`` at about 210 Hz).
No voiced frame: ``unvoiced``; not a readable WAV: ``unreadable``.

Everything is a pure function of the bytes, so reruns agree.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import wave
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import numpy as np

ImageCondition = Literal["blank", "noise", "typographic", "picture", "unreadable"]
PitchClass = Literal["low", "high", "unvoiced", "unreadable"]

BLANK_SPREAD = 4.0
"""Grey-level standard deviation under which an image shows nothing."""
NOISE_CORRELATION = 0.25
"""Neighbour correlation under which an image is noise."""
TYPOGRAPHIC_LIGHT = 0.6
"""Least share of light pixels (grey >= 200) of a page with writing on it."""
TYPOGRAPHIC_INK = (0.001, 0.35)
"""Range of the share of dark pixels (grey <= 100) of a page with writing on it."""
PITCH_SPLIT_HZ = 155.0
"""Median fundamental frequency at and above which a voice is ``high``."""

_MAX_SIDE = 256
_FRAME_S = 0.04
_MAX_SECONDS = 10.0
_F0_RANGE_HZ = (60.0, 400.0)
# A frame is voiced when its autocorrelation at the best lag is at least this share of its
# energy, and its energy at least this share of the median frame energy.
_VOICED_PEAK = 0.5
_VOICED_ENERGY = 0.1
_DATA_URI = re.compile(r"^data:([\w/+.-]+)?(;[\w=.-]+)*;base64,(.*)$", re.DOTALL)


class ImageStats(BaseModel):
    """The statistics an image's condition is read from (see the module's docstring)."""

    model_config = ConfigDict(frozen=True)

    spread: float
    neighbour_correlation: float
    light_fraction: float
    ink_fraction: float

    def condition(self) -> ImageCondition:
        """The image's condition, by the thresholds of this module."""
        if self.spread < BLANK_SPREAD:
            return "blank"
        if self.neighbour_correlation < NOISE_CORRELATION:
            return "noise"
        low, high = TYPOGRAPHIC_INK
        if self.light_fraction >= TYPOGRAPHIC_LIGHT and low <= self.ink_fraction <= high:
            return "typographic"
        return "picture"


def data_uri_bytes(url: str) -> bytes | None:
    """The bytes of a base64 ``data:`` URI, or None when ``url`` is not one (or is corrupt)."""
    match = _DATA_URI.match(url.strip())
    if match is None:
        return None
    try:
        return base64.b64decode(match.group(3), validate=False)
    except (binascii.Error, ValueError):
        return None


def _grey_pixels(data: bytes) -> np.ndarray | None:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            grey = opened.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    factor = max(1, -(-max(grey.size) // _MAX_SIDE))
    if factor > 1:
        # A box average over disjoint blocks: uniform noise stays uncorrelated, strokes stay.
        grey = grey.reduce(factor)
    return np.asarray(grey, dtype=np.float64)


@lru_cache(maxsize=512)
def image_stats(data: bytes) -> ImageStats | None:
    """The statistics of the image in ``data``, or None when Pillow cannot decode it."""
    import numpy as np

    pixels = _grey_pixels(data)
    if pixels is None or pixels.size == 0:
        return None
    spread = float(pixels.std())
    correlation = 0.0
    if pixels.shape[1] > 1 and spread > 0:
        left, right = pixels[:, :-1].ravel(), pixels[:, 1:].ravel()
        if left.std() > 0 and right.std() > 0:
            correlation = float(np.corrcoef(left, right)[0, 1])
    return ImageStats(
        spread=spread,
        neighbour_correlation=correlation,
        light_fraction=float((pixels >= 200).mean()),
        ink_fraction=float((pixels <= 100).mean()),
    )


def image_condition(data: bytes | None) -> ImageCondition:
    """What the image in ``data`` shows to a simulated target (None: ``unreadable``)."""
    stats = None if data is None else image_stats(data)
    return "unreadable" if stats is None else stats.condition()


def _wav_samples(data: bytes) -> tuple[np.ndarray, int] | None:
    import numpy as np

    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width, rate = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            frames = reader.readframes(min(reader.getnframes(), int(rate * _MAX_SECONDS)))
    except (wave.Error, EOFError, ValueError):
        return None
    if width not in (1, 2, 4) or channels < 1 or rate <= 0:
        return None
    if width == 1:  # 8-bit WAV is unsigned
        samples = np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128.0
    else:
        samples = np.frombuffer(frames, dtype=np.int16 if width == 2 else np.int32).astype(
            np.float64
        )
    usable = samples.size - samples.size % channels
    return samples[:usable].reshape(-1, channels).mean(axis=1), rate


@lru_cache(maxsize=512)
def estimate_pitch_hz(data: bytes) -> float | None:
    """The median fundamental frequency of the WAV in ``data`` over its voiced frames.

    None when the bytes are no readable WAV or no frame is voiced.
    """
    import numpy as np

    decoded = _wav_samples(data)
    if decoded is None:
        return None
    samples, rate = decoded
    frame = int(rate * _FRAME_S)
    low_lag = max(1, int(rate / _F0_RANGE_HZ[1]))
    high_lag = int(rate / _F0_RANGE_HZ[0])
    if frame <= high_lag or samples.size < frame:
        return None
    count = samples.size // frame
    frames = samples[: count * frame].reshape(count, frame)
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames**2).mean(axis=1)
    if not energy.any():
        return None
    loud = energy >= _VOICED_ENERGY * float(np.median(energy[energy > 0]))
    # Autocorrelation of every frame at once, by FFT (zero-padded: no wrap-around).
    spectrum = np.fft.rfft(frames[loud], n=2 * frame, axis=1)
    autocorr = np.fft.irfft(spectrum * np.conj(spectrum), axis=1)[:, :frame]
    lags = low_lag + np.argmax(autocorr[:, low_lag:high_lag], axis=1)
    peaks = autocorr[np.arange(lags.size), lags]
    voiced = peaks >= _VOICED_PEAK * autocorr[:, 0]
    voiced &= autocorr[:, 0] > 0
    if not voiced.any():
        return None
    return float(np.median(rate / lags[voiced]))


def voice_class(data: bytes | None) -> PitchClass:
    """Whether the speech in ``data`` (a WAV) has a low or a high voice."""
    if data is None or _wav_samples(data) is None:
        return "unreadable"
    pitch = estimate_pitch_hz(data)
    if pitch is None:
        return "unvoiced"
    return "high" if pitch >= PITCH_SPLIT_HZ else "low"
