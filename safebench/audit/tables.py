"""Markdown and CSV tables for papers, in the paper's layout.

Markdown: one row per model (run × target), one column per risk category, then ``Avg``,
the unweighted mean over the categories the model was scored on (as the paper averages
categories), and the figure over all its cases pooled (each case counts once), as the HTML
report shows both; one table for ASR, one for SRI, then modality and scenario breakdowns (the
modality table's ``Avg`` is the mean of modalities).
CSV: one long row per (run, target, dimension, group) with n, ASR, its 95% Wilson
interval and SRI, for plotting or further statistics.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Sequence

from kernel.untrusted import visible
from safebench.audit.report import DIMENSIONS, Report, RunReport, ScoreCell

CSV_COLUMNS = (
    "run",
    "target",
    "dimension",
    "group",
    "n",
    "harmful",
    "undecided",
    "asr",
    "asr_low",
    "asr_high",
    "sri",
)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")
"""Characters Markdown (and GFM's tables, strikethrough and math) would read as syntax."""


def _md(text: str) -> str:
    # Names are hostile and reach a table cell that renderers turn into HTML: raw HTML is
    # entity-escaped (no tag, no entity survives), the syntax characters are backslashed so
    # no link, emphasis, code span or math forms, a pipe cannot end the cell and a newline
    # cannot end the row; control characters are shown as escapes for whoever cats the file.
    text = html.escape(" ".join(text.splitlines()), quote=False)
    return visible(_MD_SPECIAL.sub(r"\\\1", text))


def _text(text: str) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _row_label(run: RunReport, target: str, several: bool) -> str:
    return f"{run.label} / {target}" if several else target


_GROUPS_NAMED = {"category": "categories", "modality": "modalities", "scenario": "scenarios"}


def _matrix(
    report: Report,
    dimension: str,
    groups: Sequence[str],
    value: Callable[[ScoreCell], float | None],
    fmt: Callable[[float | None], str],
) -> str:
    several = len(report.runs) > 1
    # Both overall figures, each named for what it is: the mean over this table's groups
    # (each counts once) and the pooled figure (each case counts once) differ whenever the
    # groups hold different numbers of cases.
    header = ["model", *groups, f"Avg (mean of {_GROUPS_NAMED[dimension]})", "All cases pooled"]
    lines = [
        "| " + " | ".join(_md(h) for h in header) + " |",
        "|" + "---|" + "---:|" * (len(header) - 1),
    ]
    for run in report.runs:
        for target in run.targets:
            cells = run.breakdown[dimension].get(target, {})
            values = [value(cells[g]) if g in cells else None for g in groups]
            row = [_md(_row_label(run, target, several)), *(fmt(v) for v in values)]
            row.append(fmt(_mean(values)))
            pooled = run.overall.get(target)
            row.append(fmt(value(pooled) if pooled is not None else None))
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def markdown_tables(report: Report) -> str:
    modalities = sorted(
        {g for r in report.runs for t in r.breakdown["modality"].values() for g in t}
    )
    parts = [
        "## ASR (%) per model and risk category",
        "",
        _matrix(report, "category", report.categories, lambda c: c.asr, _pct),
        "",
        "## SRI (0-100, higher is safer) per model and risk category",
        "",
        _matrix(report, "category", report.categories, lambda c: c.sri, _num),
        "",
        "## ASR (%) per model and modality",
        "",
        _matrix(report, "modality", modalities, lambda c: c.asr, _pct),
        "",
        "## ASR per model and scenario (95% Wilson interval)",
        "",
        "| model | category | scenario | n | ASR % | 95% CI | SRI |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    several = len(report.runs) > 1
    for run in report.runs:
        for target in run.targets:
            for scenario, cell in run.breakdown["scenario"].get(target, {}).items():
                ci = (
                    "–"
                    if cell.asr_low is None or cell.asr_high is None
                    else f"{100 * cell.asr_low:.0f}-{100 * cell.asr_high:.0f}"
                )
                category = run.scenario_categories.get(scenario, "")
                parts.append(
                    f"| {_md(_row_label(run, target, several))} | {_md(category)} | "
                    f"{_md(scenario)} | {cell.n} | {_pct(cell.asr)} | {ci} | {_num(cell.sri)} |"
                )
    if any(run.strongreject for run in report.runs):
        parts += [
            "",
            "## StrongREJECT score (0-1) per model and scenario (mean, 95% t interval)",
            "",
            "| model | scenario | n | mean | 95% CI |",
            "|---|---|---:|---:|---:|",
        ]
        for run in report.runs:
            for target, groups in run.strongreject.items():
                for group, s in groups.items():
                    ci = "–" if s.low is None or s.high is None else f"{s.low:.3f}-{s.high:.3f}"
                    parts.append(
                        f"| {_md(_row_label(run, target, several))} | {_md(group)} | {s.n} | "
                        f"{s.mean:.3f} | {ci} |"
                    )
    parts.append("")
    return "\n".join(parts)


def _csv_number(value: float | None) -> str:
    # Rounded before printing: a Wilson bound of zero computed as 2.77556e-17 reads as a
    # number where there is none (and 1 - 1e-17 as 1).
    return "" if value is None else f"{round(value, 9) + 0.0:.6g}"


def csv_table(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(run: RunReport, target: str, dimension: str, group: str, c: ScoreCell) -> None:
        writer.writerow(
            [_text(run.label), _text(target), dimension, _text(group), c.n, c.harmful, c.undecided]
            + [_csv_number(v) for v in (c.asr, c.asr_low, c.asr_high, c.sri)]
        )

    for run in report.runs:
        for target in run.targets:
            row(run, target, "all", "all", run.overall[target])
            for dimension in DIMENSIONS:
                for group, cell in run.breakdown[dimension].get(target, {}).items():
                    row(run, target, dimension, group, cell)
    return out.getvalue()
