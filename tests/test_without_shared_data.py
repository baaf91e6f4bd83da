"""The README's test command passes on a clone with no ``../shared`` beside it: every test that
reads the shared reference data skips, none fails (one did: the trainer's test read
``../shared/data`` with no skip, and ``make test`` failed on a fresh clone)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


DATA_NAMES = {"SHARED_DATA", "SHARED", "DATA", "needs_shared_data", "needs_data"}
"""The names a test file gives the shared data's path (from ``tests.support.shared_data``)."""


def data_dependent_tests() -> list[str]:
    """Every test function, in a file that imports ``tests.support.shared_data``, whose body
    or decorators name the data (or a module-level name built from it): the tests that
    could fail without it. Running only these keeps the check cheap."""
    found: list[str] = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        source = path.read_text(encoding="utf-8")
        if path.name == Path(__file__).name or "tests.support.shared_data import" not in source:
            continue
        tree = ast.parse(source)
        # Module-level names computed from the data (``LABELS = SHARED / "x.json"``), and
        # helpers and fixtures that read it, count too: followed until nothing is added.
        derived = set(DATA_NAMES)
        growing = True
        while growing:
            growing = False
            for node in tree.body:
                named: set[str] = set()
                if isinstance(node, ast.Assign):
                    named = {t.id for t in node.targets if isinstance(t, ast.Name)}
                    uses = _names(node.value)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    named, uses = {node.name}, _names(node)
                if named and not named <= derived and uses & derived:
                    derived |= named
                    growing = True
        found += [
            f"{path.relative_to(ROOT)}::{node.name}"
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
            and node.name in derived
        ]
    return found


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


@pytest.mark.slow
def test_data_dependent_tests_skip_without_the_shared_data(tmp_path: Path) -> None:
    tests = data_dependent_tests()
    assert len({t.split("::")[0] for t in tests}) >= 7 and len(tests) >= 12
    env = {**os.environ, "SAFEBENCH_SHARED_DATA": str(tmp_path / "no-shared-data")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert " skipped" in tail and "failed" not in tail.split("\n")[-2], tail
