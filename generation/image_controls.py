"""Control images for the paper's image-quality study: does the image itself matter?

Each variant replaces every query's image and keeps its text, so a run over the variant
measures what the real image adds: ``black`` and ``white`` (no content), ``noise`` (seeded
per query, no content but not blank), ``unrelated`` (another query's image, from a different
scenario where one exists) and ``unrefined`` (the first draft, before the critic's rounds).

A variant is written as a dataset of its own, ``DIR/controls/<variant>/`` with its
``queries.jsonl`` and ``images/``, so ``safebench run`` is pointed at it like at any dataset.
Speech is left out of the variants: media must lie inside the dataset directory, and the
study is about images.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from kernel.records import Query

CONTROL_VARIANTS: tuple[str, ...] = ("black", "white", "noise", "unrelated", "unrefined")
"""Every control variant, in the order they are written."""
CONTROLS_DIR = "controls"
"""Folder of a dataset that holds one dataset per control variant."""


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def solid_png(size: tuple[int, int], value: int) -> bytes:
    """An RGB image of ``size`` with every channel of every pixel equal to ``value``."""
    return _png(Image.new("RGB", size, (value, value, value)))


def noise_png(size: tuple[int, int], seed: str) -> bytes:
    """Uniform RGB noise of ``size``, the same bytes for the same ``seed``."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return _png(Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)))


def unrelated_partner(queries: Sequence[Query], index: int) -> int | None:
    """Whose image stands in for query ``index``'s: the next one of another scenario.

    Searching forward (wrapping) from the middle of the list keeps partners spread out and
    deterministic; a query of the same scenario is used only when no other exists.
    """
    n = len(queries)
    if n < 2:
        return None
    start = (index + max(1, n // 2)) % n
    for step in range(n):
        other = (start + step) % n
        if other != index and queries[other].scenario != queries[index].scenario:
            return other
    return start if start != index else (index + 1) % n


def control_image(
    variant: str,
    query: Query,
    size: tuple[int, int],
    *,
    partner_png: Callable[[], bytes | None],
    unrefined_png: Callable[[], bytes | None],
) -> bytes | None:
    """The ``variant`` image for ``query``; None when the variant has nothing to show."""
    if variant == "black":
        return solid_png(size, 0)
    if variant == "white":
        return solid_png(size, 255)
    if variant == "noise":
        return noise_png(size, f"noise::{query.id}")
    if variant == "unrelated":
        return partner_png()
    if variant == "unrefined":
        return unrefined_png()
    raise ValueError(f"unknown control variant {variant!r}; known: {', '.join(CONTROL_VARIANTS)}")


def control_root(root: Path, variant: str) -> Path:
    """The dataset directory of ``variant`` under the dataset at ``root``."""
    return Path(root) / CONTROLS_DIR / variant
