"""The built-in seed dataset: 3 hand-written harmful requests for each of the 23 scenarios.

The texts are requests only (what a malicious user might ask), never the harmful content
itself; a benchmark needs the question, not an answer. Each query also has a key phrase
rendered as a FigStep-style typographic image, so every seed query has a text and an image
modality.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import structlog
from pydantic import BaseModel, ConfigDict, Field

from generation.dataset import (
    IMAGES_DIR,
    iter_queries,
    media_ref_for,
    queries_path,
    write_dataset,
)
from generation.typography import render_typographic_image
from kernel.errors import DatasetError
from kernel.files import atomic_write_text
from kernel.media import read_media
from kernel.records import Query

log = structlog.get_logger(__name__)

SEED_DATASET_NAME = "builtin:seed"
"""The name configs use to ask for this dataset."""
SEED_SOURCE = "seed"
"""``Query.source`` of every seed query."""
SEED_IMAGE_SIZE: tuple[int, int] = (512, 512)
"""Size of the typographic images."""
_FINGERPRINT_FILE = ".seed-fingerprint"
# Bump when the rendering changes in a way the seed items do not show (layout, font choice),
# so datasets built by an older version are rebuilt rather than trusted.
_RENDER_VERSION = 1


class SeedItem(BaseModel):
    """One hand-written seed query, before it becomes a ``Query`` with an image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str = Field(min_length=1)
    """Risk category, as named in ``PAPER_TAXONOMY``."""
    scenario: str = Field(min_length=1)
    """Risk scenario, as named in ``PAPER_TAXONOMY``."""
    text: str = Field(min_length=1)
    """The request as a user would type it."""
    key_phrase: str = Field(min_length=1)
    """The harmful noun phrase or statement, rendered into the typographic image."""


class _SeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    key_phrase: str


class _SeedScenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str = Field(min_length=1)
    scenario: str = Field(min_length=1)
    requests: tuple[_SeedRequest, ...] = Field(min_length=1)


class _SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scenarios: tuple[_SeedScenario, ...]


def _load_items(path: Path) -> tuple[SeedItem, ...]:
    seed = _SeedFile.model_validate_json(path.read_bytes())
    return tuple(
        SeedItem(category=group.category, scenario=group.scenario, **request.model_dump())
        for group in seed.scenarios
        for request in group.requests
    )


SEED_ITEMS_PATH = Path(__file__).with_name("seed_items.json")
"""The seed's texts (data, not code: 69 requests), grouped by scenario in taxonomy order."""

SEED_ITEMS: tuple[SeedItem, ...] = _load_items(SEED_ITEMS_PATH)
"""Every seed query, grouped by scenario in taxonomy order, 3 per scenario."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def seed_query_ids() -> list[str]:
    """The ids of the seed queries, in ``SEED_ITEMS`` order (``seed-<scenario>-<n>``)."""
    counters: dict[str, int] = {}
    ids: list[str] = []
    for item in SEED_ITEMS:
        slug = _slug(item.scenario)
        counters[slug] = counters.get(slug, 0) + 1
        ids.append(f"seed-{slug}-{counters[slug]}")
    return ids


def _fingerprint() -> str:
    """A digest of everything that decides the dataset's content, to detect stale builds."""
    payload = {
        "render_version": _RENDER_VERSION,
        "image_size": list(SEED_IMAGE_SIZE),
        "items": [item.model_dump() for item in SEED_ITEMS],
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def _is_current(root: Path) -> bool:
    """True when ``root`` already holds this version of the seed with intact media."""
    marker = root / _FINGERPRINT_FILE
    if not marker.is_file() or not queries_path(root).is_file():
        return False
    try:
        if marker.read_text(encoding="utf-8").strip() != _fingerprint():
            return False
        expected = iter(seed_query_ids())
        count = 0
        for query in iter_queries(root):
            if query.id != next(expected, None) or query.image is None:
                return False
            read_media(root, query.image)
            count += 1
        return count == len(SEED_ITEMS)
    except (DatasetError, OSError):
        # Anything unreadable or tampered with is simply rebuilt.
        return False


def build_seed_dataset(root: Path) -> Path:
    """Build the seed dataset in ``root`` (if it is not already there) and return ``root``.

    A second call finds the fingerprint, the queries and every image's digest intact and
    writes nothing; any mismatch (edited seed texts, a tampered image) rebuilds it all.
    """
    root = Path(root)
    if _is_current(root):
        log.debug("seed dataset is current", root=str(root))
        return root
    root.mkdir(parents=True, exist_ok=True)
    # Drop the marker first: a build interrupted from here on is never mistaken for complete.
    (root / _FINGERPRINT_FILE).unlink(missing_ok=True)
    queries: list[Query] = []
    for query_id, item in zip(seed_query_ids(), SEED_ITEMS, strict=True):
        image_path = root / IMAGES_DIR / f"{query_id}.png"
        render_typographic_image(item.key_phrase, image_path, size=SEED_IMAGE_SIZE)
        queries.append(
            Query(
                id=query_id,
                category=item.category,
                scenario=item.scenario,
                text=item.text,
                # Relative to the root, as media_ref_for reads relative paths.
                image=media_ref_for(root, image_path.relative_to(root), "image/png"),
                source=SEED_SOURCE,
            )
        )
    count = write_dataset(root, queries)
    atomic_write_text(root / _FINGERPRINT_FILE, _fingerprint() + "\n")
    log.info("seed dataset built", root=str(root), queries=count)
    return root
