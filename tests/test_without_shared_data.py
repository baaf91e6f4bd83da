"""The README's test command passes on a clone with no ``../shared`` beside it: every test that
reads the shared reference data skips, none fails (one did: the trainer's test read
``../shared/data`` with no skip, and ``make test`` failed on a fresh clone)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def data_dependent_files() -> list[str]:
    """Every test file that reads the shared data (through ``tests.support.shared_data``)."""
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if path.name != Path(__file__).name
        and "tests.support.shared_data import" in path.read_text(encoding="utf-8")
    )


@pytest.mark.slow
def test_data_dependent_tests_skip_without_the_shared_data(tmp_path: Path) -> None:
    files = data_dependent_files()
    assert len(files) >= 7
    env = {**os.environ, "SAFEBENCH_SHARED_DATA": str(tmp_path / "no-shared-data")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert " skipped" in tail and "failed" not in tail.split("\n")[-2], tail
