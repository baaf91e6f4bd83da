"""The built-in seed dataset and its typographic images."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from generation.dataset import iter_queries
from generation.taxonomy import PAPER_TAXONOMY
from generation.typography import render_typographic_image
from kernel.media import read_media
from kernel.records import sha256_hex
from safebench.offline.seed import SEED_DATASET_NAME, SEED_ITEMS, build_seed_dataset, seed_query_ids


def test_seed_covers_every_scenario_three_times() -> None:
    assert SEED_DATASET_NAME == "builtin:seed"
    assert len(SEED_ITEMS) == 69
    counts = Counter((item.category, item.scenario) for item in SEED_ITEMS)
    expected = {(c.name, s.name) for c, s in PAPER_TAXONOMY.scenarios()}
    assert set(counts) == expected
    assert set(counts.values()) == {3}
    assert len({item.text for item in SEED_ITEMS}) == 69
    assert len({item.key_phrase for item in SEED_ITEMS}) == 69
    ids = seed_query_ids()
    assert len(set(ids)) == 69
    assert "seed-malware-generation-1" in ids
    assert "seed-ip-infringement-3" in ids


def _digests(root: Path) -> dict[str, str]:
    return {p.name: sha256_hex(p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def _mtimes(root: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert build_seed_dataset(first) == first
    build_seed_dataset(second)
    assert _digests(first) == _digests(second)

    queries = list(iter_queries(first))
    assert len(queries) == 69
    assert {q.source for q in queries} == {"seed"}
    for query in queries:
        assert query.image is not None
        assert query.image.mime_type == "image/png"
        assert query.image.path == f"images/{query.id}.png"
        read_media(first, query.image)

    before_digests, before_mtimes = _digests(first), _mtimes(first)
    build_seed_dataset(first)
    assert _digests(first) == before_digests
    assert _mtimes(first) == before_mtimes


def test_tampered_image_triggers_rebuild(tmp_path: Path) -> None:
    build_seed_dataset(tmp_path)
    before = _digests(tmp_path)
    (tmp_path / "images" / "seed-bias-2.png").write_bytes(b"not a png")
    build_seed_dataset(tmp_path)
    assert _digests(tmp_path) == before


def test_render_is_deterministic_and_wraps_long_text(tmp_path: Path) -> None:
    text = "a keylogger that hides from antivirus " + "x" * 200
    render_typographic_image(text, tmp_path / "one.png")
    render_typographic_image(text, tmp_path / "two.png")
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
    assert (tmp_path / "one.png").read_bytes().startswith(b"\x89PNG")
    # Nothing but the two images: the atomic write leaves no temp files.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png", "two.png"]


def test_seed_dataset_builds_under_a_relative_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a relative root (the demo's runs/datasets/seed) doubled the media paths."""
    monkeypatch.chdir(tmp_path)
    root = build_seed_dataset(Path("runs") / "datasets" / "seed")
    queries = list(iter_queries(root))
    assert queries[0].image is not None
    assert queries[0].image.path == f"images/{queries[0].id}.png"
    assert read_media(root, queries[0].image)
