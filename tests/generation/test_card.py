"""The dataset card: counts streamed from the dataset, written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from generation.card import CARD_FILE, LICENCE_PLACEHOLDER, count_dataset, write_dataset_card
from generation.dataset import media_ref_for, write_dataset
from kernel.errors import DatasetError
from kernel.records import Query


def _dataset(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"png")
    (root / "audio" / "male").mkdir(parents=True)
    (root / "audio" / "male" / "a.wav").write_bytes(b"wav")
    image = media_ref_for(root, Path("images/a.png"), "image/png")
    audio = media_ref_for(root, Path("audio/male/a.wav"), "audio/wav", voice="male")
    write_dataset(
        root,
        [
            Query(
                id="a",
                category="Cybersecurity",
                scenario="Malware Generation",
                text="t",
                image=image,
                audio=(audio,),
                source="test",
            ),
            Query(id="b", category="Cybersecurity", scenario="Hacking", text="t"),
            Query(id="c", category="Privacy", scenario="Data Theft", text="t", source="test"),
        ],
    )


def test_card_counts_categories_scenarios_modalities_and_media(tmp_path: Path) -> None:
    _dataset(tmp_path)
    counts = count_dataset(tmp_path)
    assert counts.queries == 3
    assert counts.categories == {"Cybersecurity": 2, "Privacy": 1}
    assert counts.scenarios["Cybersecurity / Hacking"] == 1
    assert counts.modalities == {"text": 3, "image": 1, "audio": 1}
    assert counts.images == 1
    assert counts.audio == {"male": 1}
    assert counts.sources == {"test": 2, "-": 1}


def test_card_is_written_with_title_source_licence_schema_and_notes(tmp_path: Path) -> None:
    _dataset(tmp_path)
    path = write_dataset_card(tmp_path, title="My set", source="a test", notes="typed by hand")
    assert path == tmp_path / CARD_FILE
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# My set\n")
    assert "Source: a test" in text
    assert LICENCE_PLACEHOLDER in text
    assert "| Cybersecurity / Malware Generation | 1 |" in text
    assert "| audio (male) | 1 |" in text
    assert "## Schema" in text and "`sha256`" in text
    assert "typed by hand" in text
    assert "Created: " in text
    # Rewriting replaces the card and leaves no temp file behind.
    write_dataset_card(tmp_path, title="Other", source="x")
    assert path.read_text(encoding="utf-8").startswith("# Other\n")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_card_of_a_directory_without_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no queries file"):
        write_dataset_card(tmp_path, title="t", source="s")
    assert not (tmp_path / CARD_FILE).exists()
