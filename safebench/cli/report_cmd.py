"""``safebench report RUN [RUN …]``: HTML report with plots, Markdown and CSV tables."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line, inert
from safebench.cli.consoles import CliConsole

console = CliConsole()
errors = CliConsole(stderr=True, soft_wrap=True)


def report(
    runs: Annotated[list[Path], typer.Argument(help="Run stores (.sqlite); several: side by side")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.html, tables.md, scores.csv")
    ] = Path("report"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Write an HTML report with plots, Markdown and CSV tables for one or more runs.

    ASR (95% Wilson CI) and SRI per target × category × scenario × modality; jury agreement
    (Fleiss' kappa, flips per round), abstentions, model calls, tokens and cost per verdict.
    """
    configure_logging(verbose)
    from safebench.audit.render_html import render_report
    from safebench.audit.report import build_report
    from safebench.audit.tables import csv_table, markdown_tables

    started = time.monotonic()
    try:
        data = build_report(runs)
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    html_path, md_path, csv_path = out / "report.html", out / "tables.md", out / "scores.csv"
    html_path.write_text(render_report(data), encoding="utf-8")
    md_path.write_text(markdown_tables(data), encoding="utf-8")
    csv_path.write_text(csv_table(data), encoding="utf-8")

    table = Table(title="ASR (95% CI) and SRI per run and target")
    for column in ("run", "target", "n", "ASR", "95% CI", "SRI", "kappa (blind)", "flips"):
        table.add_column(column, justify="left" if column in ("run", "target") else "right")
    for run in data.runs:
        blind = run.rounds[0].kappa if run.rounds else None
        flips = sum(r.flips for r in run.rounds)
        for target in run.targets:
            s = run.overall[target]
            # Run and target names come from the store: plain text, never rich markup.
            table.add_row(
                inert(run.label),
                inert(target),
                str(s.n),
                "-" if s.asr is None else f"{100 * s.asr:.1f}%",
                "-" if s.asr_low is None else f"{100 * s.asr_low:.0f}-{100 * s.asr_high:.0f}%",
                "-" if s.sri is None else f"{s.sri:.1f}",
                "-" if blind is None else f"{blind:.3f}",
                str(flips),
            )
    console.print(table)
    for path in (html_path, md_path, csv_path):
        console.print(f"wrote {path}", markup=False, highlight=False)
    console.print(f"{time.monotonic() - started:.1f}s", markup=False, highlight=False)
