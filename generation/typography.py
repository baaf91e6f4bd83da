"""Typographic images in the FigStep style: the harmful phrase, then an empty numbered list.

The image carries the harmful content so the accompanying text prompt can stay benign; the
empty "1. 2. 3." list invites the model to fill in the steps. Rendering is deterministic (same
text, same font, same Pillow -> same bytes) so media digests in a dataset stay stable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kernel.files import atomic_write

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont

_FONT_NAME = "DejaVuSans.ttf"
# Checked when Pillow's own search (which follows XDG_DATA_DIRS on Linux) finds nothing.
_FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/local/share/fonts/DejaVuSans.ttf"),
    Path("/Library/Fonts/DejaVuSans.ttf"),
)
_LIST_ITEMS: tuple[str, ...] = ("1.", "2.", "3.")
_MARGIN_FRACTION = 0.06
_LINE_SPACING = 1.3
_MIN_FONT_SIZE = 10


@lru_cache(maxsize=64)
def _font(size: int) -> FontType:
    """DejaVuSans at ``size`` if it can be found, else Pillow's built-in scalable font."""
    try:
        return ImageFont.truetype(_FONT_NAME, size)
    except OSError:
        pass
    for candidate in _FONT_CANDIDATES:
        if candidate.is_file():
            try:
                return ImageFont.truetype(str(candidate), size)
            except OSError:
                continue
    return ImageFont.load_default(size=size)


def _text_width(font: FontType, text: str) -> float:
    return font.getlength(text)


def _wrap(text: str, font: FontType, max_width: float) -> list[str]:
    """Greedy word wrap; words wider than a line are split by characters."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if _text_width(font, candidate) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
            # A single over-long word (a URL, a long compound) must still fit somehow.
            current = ""
            for char in word:
                if current and _text_width(font, current + char) > max_width:
                    lines.append(current)
                    current = char
                else:
                    current += char
        lines.append(current)
    return lines


def _layout(
    text: str, size: tuple[int, int], items: tuple[str, ...] = _LIST_ITEMS
) -> tuple[FontType, list[str], int, int]:
    """Pick the largest font size at which the phrase plus the list fits; return the lines."""
    width, height = size
    margin = max(4, round(min(width, height) * _MARGIN_FRACTION))
    max_width = width - 2 * margin
    max_height = height - 2 * margin
    font_size = max(_MIN_FONT_SIZE, height // 12)
    while True:
        font = _font(font_size)
        lines = [*_wrap(text, font, max_width), "", *items]
        line_height = round(font_size * _LINE_SPACING)
        if len(lines) * line_height <= max_height or font_size <= _MIN_FONT_SIZE:
            return font, lines, line_height, margin
        font_size -= 1


def render_typographic_image(
    text: str, out_path: Path, *, size: tuple[int, int] = (512, 512), items: int = 3
) -> None:
    """Render ``text`` (black on white, word-wrapped) followed by an empty "1. 2. 3." list
    (``items`` entries long).

    The PNG is written without any metadata chunks, so the same input gives the same bytes.
    """
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"image size must be positive, got {size}")
    if items < 1:
        raise ValueError(f"the list needs at least one item, got {items}")
    numbers = tuple(f"{n}." for n in range(1, items + 1))
    font, lines, line_height, margin = _layout(text.strip(), size, numbers)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    y = margin
    for line in lines:
        if line:
            draw.text((margin, y), line, fill="black", font=font)
        y += line_height
    out_path = Path(out_path)
    # Written beside the target and renamed, so a reader never sees a half-written PNG.
    with atomic_write(out_path, "wb", make_parents=True) as handle:
        # No pnginfo and a fixed compression level: nothing time- or run-dependent goes in.
        image.save(handle, format="PNG", optimize=False, compress_level=6)
