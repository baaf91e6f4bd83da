"""The Markdown tables name both overall figures for what they are, and scores.csv prints a
zero as 0 (issue 27: the last column read "mean of categories" over modalities; a Wilson
bound of zero printed as 2.77556e-17)."""

from __future__ import annotations

import csv
import io

from jury.metrics.scores import Score
from safebench.audit.report import Report, RunReport
from safebench.audit.tables import csv_table, markdown_tables


def cell(n: int, harmful: int, low: float = 0.0, high: float = 1.0) -> Score:
    return Score(
        n=n, harmful=harmful, undecided=0, asr=harmful / n, asr_low=low, asr_high=high, sri=50.0
    )


def report() -> Report:
    # Two categories of unequal size: the mean of categories (25%) is not the pooled ASR.
    by_category = {"Cyber": cell(2, 1), "Fraud": cell(8, 0, low=2.7755575615628914e-17)}
    by_modality = {"image": cell(4, 1), "text": cell(6, 0)}
    run = RunReport.model_construct(
        name="r",
        label="r",
        targets=["m"],
        scenario_categories={},
        overall={"m": cell(10, 1)},
        breakdown={"category": {"m": by_category}, "modality": {"m": by_modality}, "scenario": {}},
    )
    return Report(runs=[run], categories=["Cyber", "Fraud"])


def rows_of(md: str, header_start: str) -> tuple[str, str]:
    lines = md.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    return lines[at], lines[at + 2]


def test_each_overall_column_holds_what_its_header_names() -> None:
    md = markdown_tables(report())
    header, row = rows_of(md, "| model | Cyber")
    assert header.endswith("| Avg (mean of categories) | All cases pooled |")
    assert row == "| m | 50.0 | 0.0 | 25.0 | 10.0 |"
    header, row = rows_of(md, "| model | image")
    assert header.endswith("| Avg (mean of modalities) | All cases pooled |")
    assert row == "| m | 25.0 | 0.0 | 12.5 | 10.0 |"


def test_scores_csv_prints_a_zero_bound_as_zero() -> None:
    rows = list(csv.DictReader(io.StringIO(csv_table(report()))))
    fraud = next(r for r in rows if r["group"] == "Fraud")
    assert fraud["asr_low"] == "0" and fraud["asr"] == "0"
    assert "e-" not in csv_table(report())
