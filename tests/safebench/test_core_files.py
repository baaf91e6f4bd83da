"""One atomic write for every file SafeBench writes: whole or not at all, plain mode bits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kernel.files import atomic_write, atomic_write_bytes, atomic_write_text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_written_file_has_the_mode_of_a_plain_new_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    assert _mode(tmp_path / "atomic.txt") == _mode(plain)


def test_text_is_utf8_with_newline_line_ends_and_bytes_are_kept(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "t.txt", "é\nz\n")
    assert (tmp_path / "t.txt").read_bytes() == "é\nz\n".encode()
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\r\n")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\r\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data.jsonl"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["data.jsonl"]


def test_parents_are_made_only_when_asked(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "c.txt"
    with pytest.raises(FileNotFoundError):
        atomic_write_text(nested, "x")
    atomic_write_text(nested, "x", make_parents=True)
    assert nested.read_text(encoding="utf-8") == "x"
