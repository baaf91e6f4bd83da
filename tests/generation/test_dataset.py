"""Reading and writing datasets: streaming, error messages and media containment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generation.dataset import (
    iter_queries,
    media_ref_for,
    queries_path,
    write_dataset,
)
from kernel.errors import DatasetError
from kernel.media import read_media, resolve_media
from kernel.records import MediaRef, Query, sha256_hex


def _query(query_id: str, image: MediaRef | None = None) -> Query:
    return Query(
        id=query_id,
        category="Cybersecurity",
        scenario="Malware Generation",
        text=f"request {query_id}",
        image=image,
    )


def _image(root: Path, name: str = "a.png", data: bytes = b"png-bytes") -> MediaRef:
    path = root / "images" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return media_ref_for(root, path, "image/png")


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    ref = _image(tmp_path)
    assert ref.path == "images/a.png"
    assert ref.sha256 == sha256_hex(b"png-bytes")
    queries = [_query("q1", ref), _query("q2")]
    assert write_dataset(tmp_path, queries) == 2
    assert list(iter_queries(tmp_path)) == queries
    assert read_media(tmp_path, ref) == b"png-bytes"
    # Atomic write leaves no temp files behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "queries.jsonl"]


def test_media_ref_for_accepts_relative_path_and_voice(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "q.wav").write_bytes(b"wav")
    ref = media_ref_for(tmp_path, Path("audio/q.wav"), "audio/wav", voice="female")
    assert (ref.path, ref.voice, ref.mime_type) == ("audio/q.wav", "female", "audio/wav")


def test_media_ref_for_rejects_file_outside(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    outside = tmp_path / "x.png"
    outside.write_bytes(b"x")
    with pytest.raises(DatasetError, match="leaves"):
        media_ref_for(root, outside, "image/png")


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    lines = [_query("q1").model_dump_json(), "", "   ", _query("q2").model_dump_json()]
    queries_path(tmp_path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [q.id for q in iter_queries(tmp_path)] == ["q1", "q2"]


def test_malformed_line_names_file_line_and_field(tmp_path: Path) -> None:
    good = _query("q1").model_dump_json()
    bad = _query("q2").model_dump_json().replace('"text":"request q2"', '"text":""')
    queries_path(tmp_path).write_text(f"{good}\n\n{bad}\n", encoding="utf-8")
    reader = iter_queries(tmp_path)
    assert next(reader).id == "q1"
    with pytest.raises(DatasetError) as info:
        next(reader)
    message = str(info.value)
    assert f"{queries_path(tmp_path)}:3" in message
    assert "'text'" in message


def test_nested_field_and_bad_json_are_named(tmp_path: Path) -> None:
    row = _query("q1", _image(tmp_path)).model_dump_json().replace('"sha256":"', '"sha256":"z')
    queries_path(tmp_path).write_text(row + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"queries\.jsonl:1: .*'image\.sha256'"):
        list(iter_queries(tmp_path))
    queries_path(tmp_path).write_text(_query("q1").model_dump_json() + "\n{not json\n")
    with pytest.raises(DatasetError, match=r"queries\.jsonl:2: not valid JSON"):
        list(iter_queries(tmp_path))


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    row = _query("dup").model_dump_json()
    queries_path(tmp_path).write_text(f"{row}\n{_query('x').model_dump_json()}\n{row}\n")
    with pytest.raises(DatasetError, match=r"queries\.jsonl:3: duplicate .*'dup'.*line 1"):
        list(iter_queries(tmp_path))


def test_write_dataset_refuses_duplicates_and_keeps_old_file(tmp_path: Path) -> None:
    write_dataset(tmp_path, [_query("old")])
    with pytest.raises(DatasetError, match="'dup'"):
        write_dataset(tmp_path, [_query("dup"), _query("dup")])
    assert [q.id for q in iter_queries(tmp_path)] == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["queries.jsonl"]


def test_missing_queries_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"queries\.jsonl"):
        list(iter_queries(tmp_path))


def _ref(path: str, data: bytes = b"x") -> MediaRef:
    return MediaRef(path=path, sha256=sha256_hex(data), mime_type="image/png")


def test_resolve_media_rejects_parent_escape(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    (tmp_path / "x.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match="leaves the dataset"):
        resolve_media(root, _ref("../x.png"))
    with pytest.raises(DatasetError, match="leaves the dataset"):
        resolve_media(root, _ref("images/../../x.png"))


def test_resolve_media_rejects_absolute_paths(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(b"x")
    with pytest.raises(DatasetError, match="absolute"):
        resolve_media(tmp_path, _ref(str(target)))
    with pytest.raises(DatasetError, match="absolute"):
        resolve_media(tmp_path, _ref("C:\\data\\x.png"))


def test_resolve_media_rejects_symlink_outside(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"x")
    os.symlink(secret, root / "images" / "link.png")
    with pytest.raises(DatasetError, match="outside the dataset"):
        resolve_media(root, _ref("images/link.png"))


def test_resolve_media_allows_symlink_inside(tmp_path: Path) -> None:
    ref = _image(tmp_path, data=b"x")
    os.symlink(tmp_path / ref.path, tmp_path / "alias.png")
    assert resolve_media(tmp_path, _ref("alias.png")) == (tmp_path / ref.path).resolve()


def test_resolve_media_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"images/none\.png"):
        resolve_media(tmp_path, _ref("images/none.png"))


def test_read_media_detects_tampering(tmp_path: Path) -> None:
    ref = _image(tmp_path, data=b"original")
    (tmp_path / ref.path).write_bytes(b"tampered")
    with pytest.raises(DatasetError) as info:
        read_media(tmp_path, ref)
    message = str(info.value)
    assert "a.png" in message
    assert ref.sha256 in message
    assert sha256_hex(b"tampered") in message
