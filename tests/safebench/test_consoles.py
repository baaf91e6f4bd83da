"""Every table the CLI prints fits the terminal without cutting a figure or breaking a word:
narrowed where its words allow, else drawn as records (``safebench.cli.consoles``)."""

from __future__ import annotations

import io
import re

from rich.table import Table

from safebench.cli.consoles import CliConsole

TOTALS = ("2,898-7,050", "164.1k-338.4k", "46.0k-66.7k", "$0.05-0.09")


def printed(table: Table, width: int) -> list[str]:
    out = io.StringIO()
    CliConsole(file=out, width=width, color_system=None).print(table)
    return out.getvalue().splitlines()


def estimate_like(model: str = "openai/gpt-4o-mini") -> Table:
    table = Table(title="Estimate of run first-real (no model called)")
    table.add_column("role")
    table.add_column("model")
    for column in ("calls", "tokens in", "tokens out", "USD"):
        table.add_column(column, justify="right")
    table.add_row("juror", model, *TOTALS)
    table.add_row("all", "", *TOTALS)
    return table


def test_a_table_that_fits_is_drawn_as_rich_draws_it() -> None:
    lines = printed(estimate_like(), 160)
    assert any(all(t in line for t in TOTALS) for line in lines)  # one row, whole


def test_a_narrow_terminal_wraps_cells_between_words_never_inside_a_figure() -> None:
    table = Table()
    table.add_column("category")
    table.add_column("ASR", justify="right")
    table.add_column("95% CI", justify="right")
    category = "Illegal activity and the many ways people ask models to help with it"
    table.add_row(category, "33.3%", "12-61%")
    lines = printed(table, 40)
    assert all(len(line) <= 40 for line in lines)
    text = " ".join(lines)
    assert "33.3%" in text and "12-61%" in text and "…" not in text
    words = re.findall(r"[A-Za-z]+", " ".join(line.strip("│ ") for line in lines))
    assert set(category.split()) <= set(words)  # no word broken across lines


def test_a_table_too_wide_for_its_words_is_drawn_as_records() -> None:
    # rich cut these totals to "2,898-7,0…" and broke the model name mid-word.
    lines = printed(estimate_like("safebench/a-long-model-name-of-forty-characters"), 80)
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0] == "Estimate of run first-real (no model called)"
    body = "\n".join(lines)
    assert "…" not in body
    for total in TOTALS:
        assert body.count(total) == 2  # whole, once per record
    assert re.search(r"^model:\s+safebench/a-long-model-name-of-forty-characters\s*$", body, re.M)
    assert body.count("model:") == 1  # the "all" row's empty model is left out
    assert body.count("role:") == 2


def test_a_headerless_listing_too_wide_is_its_cells_a_line_each() -> None:
    table = Table(show_header=False, box=None)
    table.add_column()
    table.add_column()
    table.add_row("confidence_weighted (threshold=0.5)", "Harmful when the harmful side holds")
    lines = printed(table, 25)  # its longest words side by side need 30
    assert [line.rstrip() for line in lines[1:3]] == [
        "confidence_weighted",
        "(threshold=0.5)",
    ], lines
    assert not any(":" in line for line in lines)


def test_a_table_that_fits_without_borders_keeps_its_rows() -> None:
    # The README's estimate at 80 columns: too wide with borders and padding, one line a
    # row with a space between columns.
    lines = printed(estimate_like(), 80)
    assert all(len(line) <= 80 for line in lines), lines
    assert not any("│" in line for line in lines)
    rows = [line for line in lines if all(total in line for total in TOTALS)]
    assert len(rows) == 2 and rows[0].split()[:2] == ["juror", "openai/gpt-4o-mini"]


def test_piped_output_is_laid_out_for_80_columns_not_160() -> None:
    # `show … | less` came out 160 wide, which less wrapped into ragged halves. With no
    # terminal on any standard stream (and no COLUMNS), the width is 80.
    import os
    import subprocess
    import sys

    script = "from safebench.cli.consoles import CliConsole; CliConsole().print('word ' * 60)"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    widths = [len(line.rstrip()) for line in done.stdout.splitlines()]
    assert len(widths) > 1 and max(widths) <= 80 and max(widths) > 70, done.stdout
