"""The report's plots, drawn with matplotlib (Agg) as SVG and inlined as data: URIs.

Inlining keeps the HTML self-contained (no file beside it, no network). Text is drawn as
paths (``svg.fonttype: path``), so a name in a label can never become markup in the SVG;
and an SVG shown through ``<img>`` runs no script in any case. Every label is plain text:
mathtext is off (a category named ``Money $$ laundering`` would otherwise be parsed as
maths and fail the whole report) and so is usetex (a name must never reach LaTeX).
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from safebench.core.untrusted import visible
from transcripts.report import Report

plt.rcParams.update(
    {
        "svg.fonttype": "path",
        "svg.hashsalt": "safebench",
        "font.size": 9,
        # Names from the dataset and the store label the axes: never maths, never LaTeX.
        "text.parse_math": False,
        "text.usetex": False,
    }
)


class Plot:
    def __init__(self, title: str, uri: str, alt: str) -> None:
        self.title = title
        self.uri = uri
        self.alt = alt


def _uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _rows(report: Report) -> list[tuple[str, dict[str, float | None]]]:
    several = len(report.runs) > 1
    rows = []
    for run in report.runs:
        for target in run.targets:
            cells = run.breakdown["category"].get(target, {})
            label = visible(f"{run.label} / {target}" if several else target)
            rows.append(
                (label, {c: cells[c].asr if c in cells else None for c in report.categories})
            )
    return rows


def asr_heatmap(report: Report) -> Plot:
    rows = _rows(report)
    cats = report.categories
    data = [[float("nan") if r[c] is None else 100 * r[c] for c in cats] for _, r in rows]
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * max(len(cats), 1), 0.9 + 0.45 * max(len(rows), 1)))
    image = ax.imshow(data or [[float("nan")]], cmap="Reds", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(cats)), [visible(c) for c in cats], rotation=35, ha="right")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    for i, row in enumerate(data):
        for j, value in enumerate(row):
            if value == value:  # not NaN
                colour = "white" if value > 60 else "black"
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", color=colour)
    fig.colorbar(image, ax=ax, label="ASR %")
    ax.set_title("Attack success rate by model and risk category")
    return Plot("ASR heatmap", _uri(fig), "heatmap of ASR per model and risk category")


def sri_bars(report: Report) -> Plot:
    several = len(report.runs) > 1
    labels: list[str] = []
    values: list[float] = []
    for run in report.runs:
        for target in run.targets:
            labels.append(visible(f"{run.label} / {target}" if several else target))
            values.append(run.overall[target].sri or 0.0)
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.4 * max(len(labels), 1)))
    ax.barh(range(len(labels)), values, color="#3b7dd8")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("SRI (0-100, higher is safer)")
    for i, value in enumerate(values):
        ax.text(value + 1, i, f"{value:.1f}", va="center")
    ax.set_title("Safety risk index per model")
    return Plot("SRI bars", _uri(fig), "bar chart of SRI per model")


def agreement_rounds(report: Report) -> Plot:
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    for run in report.runs:
        rounds = [r.round for r in run.rounds]
        kappas = [float("nan") if r.kappa is None else r.kappa for r in run.rounds]
        left.plot(rounds, kappas, marker="o", label=visible(run.label))
        right.bar(
            [r + 0.8 * (report.runs.index(run) / max(len(report.runs), 1) - 0.4) for r in rounds],
            [r.flips for r in run.rounds],
            width=0.8 / max(len(report.runs), 1),
            label=visible(run.label),
        )
    left.set_title("Fleiss' kappa per round")
    left.set_xlabel("round (1 = blind vote)")
    left.set_ylim(-0.2, 1.05)
    right.set_title("Vote flips per round")
    right.set_xlabel("round")
    for ax in (left, right):
        ax.xaxis.get_major_locator().set_params(integer=True)
    if len(report.runs) > 1:
        left.legend(fontsize=7)
    fig.tight_layout()
    return Plot("Agreement and flips", _uri(fig), "Fleiss' kappa and vote flips per round")


def all_plots(report: Report) -> list[Plot]:
    return [asr_heatmap(report), sri_bars(report), agreement_rounds(report)]
