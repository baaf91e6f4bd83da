"""At 80 columns every README command, and every command's ``--help``, fits the terminal.

A newcomer's terminal is 80 columns wide: rich cut the estimate's totals (``2,898-7,0…``),
broke juror names mid-word and dropped table borders, and the help of ``study`` or
``run`` came out ragged with a ``<bool>`` beside every flag. Here the README's offline
commands run as its first-run section says (the same marked blocks the docs tests run,
see ``test_docs_commands``), with ``COLUMNS=80``, and each one's output, stdout and
stderr, must have no line over 80 characters and no cut figure.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.docs.test_docs_commands import ROOT, command_lines, offline_env, readme_start

WIDTH = 80
SHOWN_CASE = "safebench/sim-leaky::seed-medical-advice-1::text"
"""A case of the README's first run (its first two queries)."""
_CUT = re.compile(r"\d…|…\d|\w…\s*[│┃]")
"""A figure cut by rich's ellipsis, or any cell cut at a table's border."""


def problems(what: str, output: str) -> list[str]:
    found = []
    for line in output.splitlines():
        if len(line) > WIDTH:
            found.append(f"{what}: a line of {len(line)} characters: {line!r}")
        if _CUT.search(line):
            found.append(f"{what}: a cut cell: {line!r}")
    return found


@pytest.fixture(scope="module")
def readme_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each README offline command (in order, from a fresh copy of ``examples/``) and what
    it printed at 80 columns."""
    where = tmp_path_factory.mktemp("columns")
    shutil.copytree(ROOT / "examples", where / "examples")
    env = offline_env() | {"COLUMNS": str(WIDTH)}
    printed = {}
    for block in readme_start():
        if block.file_name:
            (where / block.file_name).write_text(block.body, encoding="utf-8")
            continue
        for line in command_lines(block.body):
            words = shlex.split(line, comments=True)
            done = subprocess.run(
                [sys.executable, "-m", "safebench", *words[1:]],
                cwd=where,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == block.expected_exit, (line, done.stdout, done.stderr)
            printed[line] = done.stdout + done.stderr
    # The README's prose names `safebench rules`; `attacks` and a case's deliberation are
    # the other listings a newcomer reads in the terminal.
    for line in (
        "safebench rules",
        "safebench attacks",
        f"safebench transcripts show runs/starter-offline.sqlite {SHOWN_CASE}",
    ):
        done = subprocess.run(
            [sys.executable, "-m", "safebench", *shlex.split(line)[1:]],
            cwd=where, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        printed[line] = done.stdout + done.stderr
    return printed


def test_every_readme_command_fits_80_columns(readme_outputs: dict[str, str]) -> None:
    assert len(readme_outputs) >= 5
    found = [p for line, out in readme_outputs.items() for p in problems(line, out)]
    assert not found, "\n".join(found)


def test_the_estimate_keeps_every_total_whole(readme_outputs: dict[str, str]) -> None:
    # rich cut the totals to "2,898-7,0…": at 80 columns each is whole, on the "all" row.
    estimate = next(out for line, out in readme_outputs.items() if "--estimate" in line)
    (totals,) = [line.split() for line in estimate.splitlines() if line.startswith("all ")]
    assert len(totals) == 5, estimate  # the "all" row names no model
    for cell in totals[1:]:
        assert re.fullmatch(r"\$?[\d.,]+k?(-\$?[\d.,]+k?)?", cell), estimate


def _command_paths() -> list[list[str]]:
    from safebench.cli.reference import command

    paths: list[list[str]] = [[]]

    def walk(node: object, prefix: list[str]) -> None:
        for name, sub in getattr(node, "commands", {}).items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(command, [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "safebench")
def test_every_help_fits_80_columns(path: list[str]) -> None:
    from safebench.cli.app import app

    shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert shown.exit_code == 0, shown.output
    found = problems(" ".join(["safebench", *path, "--help"]), shown.output)
    assert not found, "\n".join(found)
    assert "<bool>" not in shown.output  # a flag takes no value
    assert "``" not in shown.output  # reStructuredText's literal marks, shown as typed
