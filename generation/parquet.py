"""Exporting a dataset as Parquet in the layout Hugging Face ``datasets`` reads.

One row per query: ``id, category, scenario, text, source``, the image as a struct
``{bytes, path}`` (the storage of the ``datasets.Image`` feature) and one such struct per
speech voice (``audio_male``, ``audio_female``, ... as ``datasets.Audio``). The features are
written into the schema's ``huggingface`` metadata, so ``load_dataset("parquet", ...)``
decodes the image column as images. Audio columns are marked ``decode=False`` (rows give
``{bytes, path}``), because decoding speech in ``datasets`` needs ``torchcodec`` and FFmpeg;
``ds.cast_column("audio_male", datasets.Audio())`` turns decoding on where they are present.
Rows are written in row groups as they are read, so only one group's media are ever held in
memory.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import structlog
from pydantic import BaseModel, ConfigDict, Field

from generation.card import CARD_FILE
from generation.dataset import iter_queries
from kernel.files import atomic_write, atomic_write_text
from kernel.media import read_media
from kernel.records import MediaRef, Query

log = structlog.get_logger(__name__)

DATA_DIR = "data"
"""Folder of the Parquet files inside the export directory."""
PARQUET_FILE = "train-00000-of-00001.parquet"
"""Name of the (single) Parquet file: Hugging Face's shard naming for a ``train`` split."""

_MEDIA_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_TEXT_COLUMNS = ("id", "category", "scenario", "text", "source")


class ParquetExportConfig(BaseModel):
    """How ``safebench dataset export --parquet`` writes its file."""

    model_config = ConfigDict(extra="forbid")

    rows_per_group: int = Field(256, ge=1, le=1_000_000)
    """Rows per Parquet row group: the most rows (and their media) held in memory at once."""
    compression: str = "zstd"
    """Parquet compression codec (``zstd``, ``snappy``, ``none``, ...)."""


class ParquetExportReport(BaseModel):
    """What an export wrote."""

    model_config = ConfigDict(extra="forbid")

    path: str
    """The Parquet file written."""
    rows: int
    """Queries written, one row each."""
    row_groups: int
    """Row groups in the file."""
    voices: list[str]
    """Speech voices, one ``audio_<voice>`` column each."""
    seconds: float
    """Wall-clock time of the export."""


def audio_column(voice: str) -> str:
    """The column holding ``voice``'s speech."""
    return "audio_" + re.sub(r"[^0-9A-Za-z_]", "_", voice)


def _voices(root: Path) -> list[str]:
    # A first streaming pass: the schema must name every voice before the first row group.
    found: set[str] = set()
    for query in iter_queries(root):
        found.update(ref.voice or "default" for ref in query.audio)
    return sorted(found)


def _schema(voices: list[str]) -> pa.Schema:
    fields = [pa.field(name, pa.string(), nullable=name == "source") for name in _TEXT_COLUMNS]
    fields.append(pa.field("image", _MEDIA_TYPE))
    fields += [pa.field(audio_column(voice), _MEDIA_TYPE) for voice in voices]
    features: dict[str, Any] = {
        name: {"dtype": "string", "_type": "Value"} for name in _TEXT_COLUMNS
    }
    features["image"] = {"_type": "Image"}
    for voice in voices:
        features[audio_column(voice)] = {"_type": "Audio", "decode": False}
    # The key and shape ``datasets`` reads back as the dataset's features.
    metadata = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema(fields, metadata=metadata)


def _media(root: Path, ref: MediaRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"bytes": read_media(root, ref), "path": ref.path}


def _row(root: Path, query: Query, voices: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": query.id,
        "category": query.category,
        "scenario": query.scenario,
        "text": query.text,
        "source": query.source,
        "image": _media(root, query.image),
    }
    spoken = {ref.voice or "default": ref for ref in query.audio}
    for voice in voices:
        row[audio_column(voice)] = _media(root, spoken.get(voice))
    return row


def _hub_readme(root: Path) -> str:
    """A README whose front matter tells ``load_dataset(export_dir)`` where the data is."""
    front = (
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        f"    path: {DATA_DIR}/train-*.parquet\n---\n\n"
    )
    card = root / CARD_FILE
    body = card.read_text(encoding="utf-8") if card.is_file() else ""
    return front + body


def export_parquet(
    root: Path, out_dir: Path, config: ParquetExportConfig | None = None
) -> ParquetExportReport:
    """Write the dataset at ``root`` to ``out_dir/data/train-00000-of-00001.parquet``.

    Media are read through ``read_media`` (digests checked; a bad file raises DatasetError
    naming it). The file is written beside its final name and renamed into place, so an
    export that fails leaves no partial file.
    """
    config = config or ParquetExportConfig()
    started = time.perf_counter()
    root, out_dir = Path(root), Path(out_dir)
    voices = _voices(root)
    schema = _schema(voices)
    data_dir = out_dir / DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / PARQUET_FILE
    rows = groups = 0
    compression = None if config.compression == "none" else config.compression
    # The writer is handed the open file (it does not close what it did not open), so the
    # file is fsync'ed and renamed whole like every other.
    with (
        atomic_write(target, "wb") as handle,
        pq.ParquetWriter(handle, schema, compression=compression) as writer,
    ):
        buffer: list[dict[str, Any]] = []
        for query in iter_queries(root):
            buffer.append(_row(root, query, voices))
            if len(buffer) >= config.rows_per_group:
                writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
                rows, groups, buffer = rows + len(buffer), groups + 1, []
        if buffer or rows == 0:
            writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
            rows, groups = rows + len(buffer), groups + 1
    atomic_write_text(out_dir / "README.md", _hub_readme(root))
    report = ParquetExportReport(
        path=str(target),
        rows=rows,
        row_groups=groups,
        voices=voices,
        seconds=time.perf_counter() - started,
    )
    log.info("export.parquet", path=str(target), rows=rows, seconds=round(report.seconds, 3))
    return report
