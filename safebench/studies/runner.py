"""``run_study``: prepare a study's datasets, run (or resume) each cell, write its outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from jury.metrics import definitions
from kernel.errors import RunAborted
from safebench.audit.render_html import render_report
from safebench.audit.report import build_report
from safebench.run.cases import NoProgress, Progress, RunOverBudget
from safebench.run.pipeline import run_evaluation
from safebench.studies.cells import Cell, base_config, cell_modalities, expand, labels_of
from safebench.studies.datasets import prepare_datasets
from safebench.studies.figures import write_figures
from safebench.studies.page import CellLink, render_page
from safebench.studies.results import Row, cell_rows, with_uplift
from safebench.studies.spec import AXES, StudySpec
from safebench.studies.tables import long_csv, markdown, study_tables

log = structlog.get_logger(__name__)


class StudyProgress(Protocol):
    """Where a study reports progress: what it prepares, then each cell's cases."""

    def preparing(self, what: str) -> None: ...

    def cell(self, index: int, total: int, cell: Cell) -> Progress: ...


class NoStudyProgress:
    def preparing(self, what: str) -> None:
        return None

    def cell(self, index: int, total: int, cell: Cell) -> Progress:
        return NoProgress()


@dataclass
class CellOutcome:
    cell: Cell
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    model_calls: int = 0
    """Calls made this time (a resumed cell reads its recorded calls back instead)."""
    cached_calls: int = 0


@dataclass
class StudyResult:
    spec: StudySpec
    out: Path
    outcomes: list[CellOutcome]
    rows: list[Row]
    files: list[Path]
    sampled: str | None

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status != "complete"]


async def run_study(
    spec: StudySpec, out: Path, progress: StudyProgress | None = None
) -> StudyResult:
    """Run every cell of ``spec`` (resuming what is done), then write the study's outputs.

    A cell that aborts (too many failed cases) or stops at its budget is reported and the
    others still run; a config error (e.g. a store bound to another config) stops the study
    before its cell.
    """
    progress = progress or NoStudyProgress()
    base = base_config(spec)
    spec.check_pairs([target.display_name for target in base.targets])
    progress.preparing("datasets (sampling, speech, image controls)")
    data = await prepare_datasets(spec, base.dataset, cell_modalities(spec, base), out)
    cells = expand(spec, data, out)
    outcomes = []
    for index, cell in enumerate(cells):
        log.info("study_cell", cell=cell.name, index=index + 1, total=len(cells))
        try:
            summary = await run_evaluation(cell.config, progress.cell(index, len(cells), cell))
            status, message = summary.status, None
            if status == "complete" and not summary.counts.get("judged"):
                # Every case skipped or failed (targets that take no audio, a dataset without
                # the voice): its columns would read "-" as if nothing were wrong.
                counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
                status = "no verdicts"
                message = (
                    f"no case was judged ({counts or 'no cases'}); "
                    f"`safebench transcripts list {cell.store}` shows why"
                )
            outcomes.append(
                CellOutcome(
                    cell,
                    status,
                    summary.counts,
                    message=message,
                    model_calls=summary.model_calls,
                    cached_calls=summary.cached_calls,
                )
            )
        except RunAborted as exc:
            outcomes.append(CellOutcome(cell, "aborted", message=str(exc)))
        except RunOverBudget as exc:
            # Each cell is a run with the base config's budget: this one stopped at it; the
            # others still run, and a rerun with a larger budget resumes it.
            done = exc.summary
            outcomes.append(
                CellOutcome(
                    cell,
                    "budget",
                    done.counts,
                    message=str(exc),
                    model_calls=done.model_calls,
                    cached_calls=done.cached_calls,
                )
            )
    progress.preparing("tables, plots and reports")
    return write_outputs(spec, out, outcomes, data.sampled)


def write_outputs(
    spec: StudySpec, out: Path, outcomes: Sequence[CellOutcome], sampled: str | None
) -> StudyResult:
    labels = labels_of(spec)
    axes = [a for a in AXES if a in labels]
    baselines = {axis: spec.baseline_of(axis) for axis in axes}
    rows = with_uplift([r for o in outcomes for r in cell_rows(o.cell)], baselines)
    tables = study_tables(spec, rows, labels)
    title = spec.title or f"Study {spec.name}"
    preamble = [
        f"Base config: {spec.base}. {_cells(len(outcomes))}; "
        "the base config's jury judges every cell.",
        *(f"Baseline {a}: {v}." for a, v in baselines.items()),
        *([f"Sample: {sampled}."] if sampled else []),
        *(
            f"Cell {o.cell.name}: {o.status}" + (f" ({o.message})" if o.message else "") + "."
            for o in outcomes
            if o.status != "complete"
        ),
        # The definitions behind the numbers, recorded with them (jury.metrics).
        *(f"{name.upper()}: {text}" for name, text in definitions(STUDY_METRICS).items()),
    ]
    files = []
    md = out / "study.md"
    md.write_text(markdown(title, tables, preamble), encoding="utf-8")
    csv_path = out / "study.csv"
    csv_path.write_text(long_csv(rows, axes), encoding="utf-8")
    plots = write_figures(spec, rows, labels, out / "plots")
    links = []
    for outcome in outcomes:
        report = _cell_report(outcome.cell, out)
        counts = " ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items()))
        links.append(
            CellLink(
                outcome.cell.name,
                outcome.cell.values,
                outcome.status,
                counts,
                None if report is None else report.relative_to(out).as_posix(),
            )
        )
    html = out / "study.html"
    html.write_text(render_page(title, preamble, axes, links, tables, plots, out), encoding="utf-8")
    files += [md, csv_path, html, *plots]
    return StudyResult(spec, out, list(outcomes), rows, files, sampled)


STUDY_METRICS = ("asr", "sri")
"""The registered metrics a study's tables report."""


def _cells(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


def _cell_report(cell: Cell, out: Path) -> Path | None:
    if not cell.store.is_file():
        return None
    path = out / "cells" / cell.name / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(build_report([cell.store])), encoding="utf-8")
    return path
