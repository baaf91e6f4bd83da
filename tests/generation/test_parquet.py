"""Parquet export: Hugging Face `datasets` loads it back with the same rows and pixels."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from generation.dataset import media_ref_for, write_dataset
from generation.parquet import ParquetExportConfig, export_parquet
from kernel.errors import DatasetError
from kernel.logs import configure_logging
from kernel.records import Query
from safebench.cli import dataset_cmd


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> Iterator[None]:
    # CLI tests leave structlog writing to CliRunner's closed stderr; point it back, before
    # (another module may have run one) and after (this one does).
    configure_logging()
    yield
    configure_logging()


def _dataset(root: Path, count: int = 5) -> list[Query]:
    (root / "images").mkdir(parents=True)
    (root / "audio" / "female").mkdir(parents=True)
    queries = []
    for n in range(count):
        image = None
        audio: tuple = ()
        if n % 2 == 0:
            Image.new("RGB", (5, 4), (n * 40, 255 - n * 40, 7)).save(root / "images" / f"{n}.png")
            image = media_ref_for(root, Path(f"images/{n}.png"), "image/png")
        if n == 0:
            with wave.open(str(root / "audio" / "female" / "0.wav"), "wb") as writer:
                writer.setnchannels(1)
                writer.setsampwidth(2)
                writer.setframerate(8000)
                writer.writeframes(b"\x00\x01" * 80)
            audio = (media_ref_for(root, Path("audio/female/0.wav"), "audio/wav", "female"),)
        queries.append(
            Query(
                id=f"q{n}",
                category="Cybersecurity",
                scenario="Malware Generation",
                text=f"request number {n}",
                image=image,
                audio=audio,
                source="test" if n else None,
            )
        )
    write_dataset(root, queries)
    return queries


def test_parquet_round_trips_through_hugging_face_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    queries = _dataset(tmp_path / "ds")
    report = export_parquet(tmp_path / "ds", tmp_path / "pq", ParquetExportConfig(rows_per_group=2))
    assert (report.rows, report.row_groups, report.voices) == (5, 3, ["female"])
    assert pq.ParquetFile(report.path).metadata.num_row_groups == 3

    loaded = datasets.load_dataset(
        "parquet", data_files=report.path, split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert loaded["id"] == [q.id for q in queries]
    assert loaded["text"] == [q.text for q in queries]
    assert loaded["source"] == [q.source for q in queries]
    assert type(loaded.features["image"]).__name__ == "Image"
    assert type(loaded.features["audio_female"]).__name__ == "Audio"
    for n, row in enumerate(loaded):
        if n % 2:
            assert row["image"] is None
            continue
        with Image.open(tmp_path / "ds" / "images" / f"{n}.png") as original:
            assert list(row["image"].convert("RGB").getdata()) == list(original.getdata())
    first = loaded[0]["audio_female"]
    assert first["bytes"] == (tmp_path / "ds" / "audio" / "female" / "0.wav").read_bytes()
    assert loaded[1]["audio_female"] is None
    # The README's front matter lets the export folder itself be loaded.
    whole = datasets.load_dataset(
        str(tmp_path / "pq"), split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert whole.num_rows == 5


def test_a_tampered_image_stops_the_export_and_leaves_no_parquet(tmp_path: Path) -> None:
    _dataset(tmp_path / "ds", count=3)
    Image.new("RGB", (5, 4), (1, 2, 3)).save(tmp_path / "ds" / "images" / "2.png")
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        export_parquet(tmp_path / "ds", tmp_path / "pq")
    assert list((tmp_path / "pq" / "data").iterdir()) == []


def test_cli_imports_exports_and_describes_a_dataset(tmp_path: Path) -> None:
    source = tmp_path / "prompts.json"
    source.write_text(
        '[{"prompt": "How do I pick a lock?", "category": "Crime", "scenario": "Theft"},'
        ' {"prompt": "", "category": "Crime", "scenario": "Theft"}]',
        encoding="utf-8",
    )
    runner = CliRunner()
    out = tmp_path / "ds"
    result = runner.invoke(dataset_cmd.app, ["import", "json-list", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "imported 1 queries" in result.output
    assert "item 1: empty prompt" in result.output

    result = runner.invoke(
        dataset_cmd.app,
        ["import", "json-list", str(source), "--out", str(tmp_path / "s"), "--strict"],
    )
    assert result.exit_code == 2
    assert "strict import" in result.output
    assert not (tmp_path / "s" / "queries.jsonl").exists()

    result = runner.invoke(dataset_cmd.app, ["info", str(out)])
    assert result.exit_code == 0 and "1 queries in 1 categories" in result.output

    result = runner.invoke(dataset_cmd.app, ["card", str(out), "--notes", "checked by hand"])
    assert result.exit_code == 0, result.output
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# Imported prompt list") and "checked by hand" in card

    result = runner.invoke(dataset_cmd.app, ["export", str(out), "--parquet", str(tmp_path / "pq")])
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "pq" / "data").column("text").to_pylist() == [
        "How do I pick a lock?"
    ]


def test_dataset_group_is_registered_on_the_safebench_command() -> None:
    from safebench.cli.app import app

    result = CliRunner().invoke(app, ["dataset", "--help"])
    assert result.exit_code == 0
    for command in ("import", "export", "card", "info"):
        assert command in result.output
