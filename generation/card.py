"""The dataset card: a README.md beside ``queries.jsonl`` that says what the dataset holds.

The counts are computed by streaming the queries once, so a card can be written for a dataset
of any size; the file is written beside its final name and renamed into place, so a reader
never sees half a card.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from generation.dataset import iter_queries
from kernel.files import atomic_write_text
from kernel.records import MODALITIES, Query

CARD_FILE = "README.md"
"""Name of the dataset card inside a dataset directory."""

LICENCE_PLACEHOLDER = (
    "_Fill in: the licence under which this dataset may be used and shared, and the terms "
    "of its source._"
)


class DatasetCounts(BaseModel):
    """What a dataset holds, counted in one pass over its queries."""

    model_config = ConfigDict(extra="forbid")

    queries: int = 0
    """How many queries the dataset holds."""
    categories: dict[str, int] = Field(default_factory=dict)
    """Queries per risk category."""
    scenarios: dict[str, int] = Field(default_factory=dict)
    """Queries per (category, scenario), keyed ``category / scenario``."""
    modalities: dict[str, int] = Field(default_factory=dict)
    """Queries that can be put to a target in each modality (text, image, audio)."""
    sources: dict[str, int] = Field(default_factory=dict)
    """Queries per ``source`` field (``-`` where a query names none)."""
    images: int = 0
    """Image files referenced (one per query at most)."""
    audio: dict[str, int] = Field(default_factory=dict)
    """Speech files referenced, per voice (``-`` where a file names none)."""


def count_dataset(root: Path) -> DatasetCounts:
    """Count the queries, categories, scenarios, modalities and media of the dataset at root."""
    categories: Counter[str] = Counter()
    scenarios: Counter[str] = Counter()
    modalities: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    voices: Counter[str] = Counter()
    total = 0
    images = 0
    query: Query
    for query in iter_queries(root):
        total += 1
        categories[query.category] += 1
        scenarios[f"{query.category} / {query.scenario}"] += 1
        for modality in query.modalities():
            modalities[modality] += 1
        sources[query.source or "-"] += 1
        if query.image is not None:
            images += 1
        for ref in query.audio:
            voices[ref.voice or "-"] += 1
    return DatasetCounts(
        queries=total,
        categories=dict(categories),
        scenarios=dict(scenarios),
        modalities={m: modalities[m] for m in MODALITIES if modalities[m]},
        sources=dict(sources),
        images=images,
        audio=dict(voices),
    )


def _table(header: tuple[str, str], counts: dict[str, int]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---:|"]
    for name, count in sorted(counts.items()):
        # A pipe inside a name would split the Markdown cell.
        lines.append(f"| {name.replace('|', '/')} | {count} |")
    if not counts:
        lines.append("| (none) | 0 |")
    return lines


_SCHEMA = """\
Each line of `queries.jsonl` is one query (a `kernel.records.Query`):

| field | type | meaning |
|---|---|---|
| `type` | `"query"` | record type |
| `id` | string | unique id of the query |
| `category` | string | risk category |
| `scenario` | string | risk scenario inside the category |
| `text` | string | the query's text |
| `image` | media or null | the query's image |
| `audio` | list of media | the query's speech, one file per voice |
| `source` | string or null | where the query came from |

A media reference is `{"type": "media", "path", "sha256", "mime_type", "voice"}`: `path` is
relative to this directory and the file's bytes are checked against `sha256` when read."""


def render_card(
    counts: DatasetCounts, *, title: str, source: str, notes: str = "", created: datetime
) -> str:
    """The Markdown text of a dataset card."""
    lines = [
        f"# {title}",
        "",
        f"Source: {source}",
        "",
        f"Created: {created.isoformat(timespec='seconds')}",
        "",
        "## Licence",
        "",
        LICENCE_PLACEHOLDER,
        "",
        "## Contents",
        "",
        f"{counts.queries} queries; {counts.images} images; "
        f"{sum(counts.audio.values())} speech files.",
        "",
        "### Per category",
        "",
        *_table(("category", "queries"), counts.categories),
        "",
        "### Per scenario",
        "",
        *_table(("category / scenario", "queries"), counts.scenarios),
        "",
        "### Per modality",
        "",
        *_table(("modality", "queries"), counts.modalities),
        "",
        "### Media",
        "",
        *_table(
            ("media", "files"),
            {"image": counts.images} | {f"audio ({voice})": n for voice, n in counts.audio.items()},
        ),
        "",
        "### Per source",
        "",
        *_table(("source", "queries"), counts.sources),
        "",
        "## Schema",
        "",
        _SCHEMA,
        "",
    ]
    if notes.strip():
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def write_dataset_card(root: Path, *, title: str, source: str, notes: str = "") -> Path:
    """Write (or rewrite) ``root/README.md``, the dataset card; return its path.

    The card gives the title, the source, a licence placeholder for the user to fill, the
    counts per category, scenario, modality and source, the media counts, when it was made,
    and the schema of a row. Raises DatasetError when ``root`` holds no valid dataset.
    """
    root = Path(root)
    counts = count_dataset(root)
    text = render_card(counts, title=title, source=source, notes=notes, created=datetime.now(UTC))
    path = root / CARD_FILE
    atomic_write_text(path, text)
    return path


def read_card_header(root: Path) -> tuple[str, str] | None:
    """(title, source) of the card already in ``root``, or None when there is none.

    Lets ``safebench dataset card DIR`` refresh the counts without retyping the title.
    """
    path = Path(root) / CARD_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), None)
    source = next((line[len("Source: ") :] for line in lines if line.startswith("Source: ")), None)
    if title is None or source is None:
        return None
    return title, source
