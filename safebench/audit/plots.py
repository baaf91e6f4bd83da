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
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from kernel.untrusted import visible
from safebench.audit.report import Report

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
    ax.barh(range(len(labels)), values, color="#3b7dd8", label="SRI (higher is safer)")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("SRI (0-100, higher is safer)")
    for i, value in enumerate(values):
        ax.text(value + 1, i, f"{value:.1f}", va="center")
    ax.set_title("Safety risk index per model")
    ax.legend(fontsize=7, loc="lower right")
    return Plot("SRI bars", _uri(fig), "bar chart of SRI per model")


def _cohort_lines(ax: Axes, report: Report, metric: str, scale: float) -> None:
    """One line per run and cohort (the cases that reached a round, followed from the blind
    vote), labelled and annotated with its n."""
    several = len(report.runs) > 1
    for run in report.runs:
        prefix = f"{visible(run.label)}: " if several else ""
        # Cohort 1 (every case's blind vote) only where no round followed: otherwise the
        # deliberating cohorts say more, and their round-1 point is the blind vote too.
        shown = [c for c in run.cohorts if c.reached > 1] or run.cohorts[:1]
        for cohort in shown:
            values = [getattr(r, metric) for r in cohort.rounds]
            xs = [r.round for r in cohort.rounds]
            ys = [float("nan") if v is None else scale * v for v in values]
            what = "all cases" if cohort.reached == 1 else f"cases reaching round {cohort.reached}"
            (line,) = ax.plot(xs, ys, marker="o", label=f"{prefix}{what} (n={cohort.cases})")
            finite = [(x, y) for x, y in zip(xs, ys, strict=True) if y == y]  # not NaN
            if finite:
                ax.annotate(
                    f"n={cohort.cases}",
                    finite[-1],
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                    color=line.get_color(),
                )


def _flip_bars(ax: Axes, report: Report) -> None:
    several = len(report.runs) > 1
    width = 0.8 / max(len(report.runs), 1)
    for index, run in enumerate(report.runs):
        offset = width * (index - (len(report.runs) - 1) / 2)
        rates = [(f.round, f.rate, f.juror_rounds) for f in run.flip_rates if f.rate is not None]
        bars = ax.bar(
            [r + offset for r, _, _ in rates],
            [100 * rate for _, rate, _ in rates],
            width=width,
            label=visible(run.label) if several else "flip rate",
        )
        for bar, (_, _, n) in zip(bars, rates, strict=True):
            ax.annotate(
                f"n={n}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                textcoords="offset points",
                xytext=(0, 2),
                ha="center",
                fontsize=7,
            )


def agreement_rounds(report: Report) -> Plot:
    """Agreement on the same cases across rounds (observed, and Fleiss' kappa), and vote
    flips per juror-round (comparable across jury sizes)."""
    fig, (agree, kappa, flips) = plt.subplots(1, 3, figsize=(14, 3.8))
    kappa.sharex(agree)  # a round where kappa is undefined still shows on its axis
    _cohort_lines(agree, report, "agreement", 100)
    _cohort_lines(kappa, report, "kappa", 1)
    _flip_bars(flips, report)
    agree.set_title("Agreement on the same cases across rounds")
    agree.set_ylabel("% of juror pairs voting alike")
    agree.set_ylim(0, 105)
    # Kappa is undefined where every vote falls one way (a unanimous round): no point there.
    kappa.set_title("Fleiss' kappa on the same cases")
    kappa.set_ylabel("Fleiss' kappa (none when unanimous)")
    kappa.set_ylim(-1.05, 1.05)
    kappa.axhline(0, color="grey", linewidth=0.5)
    for ax in (agree, kappa):
        ax.set_xlabel("round (1 = blind vote)")
    flips.set_title("Vote flips per juror-round")
    flips.set_xlabel("deliberation round")
    flips.set_ylabel("% of jurors who changed their vote")
    flips.set_ylim(0, 105)
    for ax in (agree, kappa, flips):
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:  # no deliberation round in any run: say so rather than draw an empty box
            ax.text(0.5, 0.5, "no deliberation round held", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return Plot(
        "Agreement on the same cases across rounds, and flip rate",
        _uri(fig),
        "agreement and Fleiss' kappa per round on the cases that reached each round, and "
        "vote flips per juror-round",
    )


def all_plots(report: Report) -> list[Plot]:
    return [asr_heatmap(report), sri_bars(report), agreement_rounds(report)]
