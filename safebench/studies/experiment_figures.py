"""Plots of a sweep (matplotlib, Agg: files only, no display needed).

Accuracy and kappa against jury size, one mean curve per voting rule with its 95% interval
over the configurations of that size (the panels drawn from the pool), the single judges
as labelled points and the majority class as the floor. Accuracy against cost is drawn only
when cost says something size does not: with replayed or offline jurors every juror costs
one call, so calls per verdict is the jury size again and that plot would repeat the first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safebench.studies.experiment import ExperimentResult, ResultRow

T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
"""Student's t, 97.5th percentile, for 1..30 degrees of freedom (the two-sided 95% interval)."""


def t975(df: int) -> float:
    """Student's t 97.5th percentile; beyond the table, the Cornish-Fisher expansion (within
    0.001 of the exact value from 30 degrees of freedom up)."""
    if df < 1:
        raise ValueError("a t interval needs at least one degree of freedom")
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class CurvePoint:
    """One jury size of one rule's curve: the mean over its configurations."""

    size: int
    n: int
    """Configurations of this size under this rule."""
    mean: float
    low: float | None
    """The 95% t interval of the mean (None for a single configuration)."""
    high: float | None


def rule_key(row: ResultRow, several_rounds: bool) -> str:
    """A curve's name: the rule with its options (and rounds, when the sweep varies them)."""
    options = ",".join(f"{k}={v}" for k, v in row.config.rule.options().items())
    key = f"{row.config.rule.rule}({options})" if options else row.config.rule.rule
    if several_rounds:
        key += f", {row.config.rounds} round(s)"
    return key


def size_curves(rows: Sequence[ResultRow], metric: str) -> dict[str, list[CurvePoint]]:
    """Per voting rule, the mean of ``metric`` per jury size with its 95% interval."""
    several_rounds = len({r.config.rounds for r in rows}) > 1
    values: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        values[rule_key(row, several_rounds)][row.size].append(row.score(metric))
    curves: dict[str, list[CurvePoint]] = {}
    for key, by_size in sorted(values.items()):
        points = []
        for size, xs in sorted(by_size.items()):
            mean = sum(xs) / len(xs)
            if len(xs) > 1:
                sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
                half = t975(len(xs) - 1) * sd / math.sqrt(len(xs))
                points.append(CurvePoint(size, len(xs), mean, mean - half, mean + half))
            else:
                points.append(CurvePoint(size, 1, mean, None, None))
        curves[key] = points
    return curves


def cost_is_size(rows: Sequence[ResultRow]) -> bool:
    """True when calls per verdict follow from the jury size alone (one value per size)."""
    costs: dict[int, set[float]] = defaultdict(set)
    for row in rows:
        costs[row.size].add(round(row.calls_per_verdict, 6))
    return all(len(values) == 1 for values in costs.values())


def write_plots(result: ExperimentResult, out: Path) -> list[Path]:
    """Accuracy and kappa by jury size (and accuracy against cost, where cost is not the
    size again); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Labels carry the spec's and the jurors' names: plain text, never mathtext (a `$` in a
    # name would fail the plot) and never LaTeX.
    with plt.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _write_plots(result, out, plt)


def _write_plots(result: ExperimentResult, out: Path, plt: Any) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [_by_size(result, metric, out, plt) for metric in ("accuracy", "kappa")]
    stale = out / "accuracy-by-cost.png"
    if cost_is_size(result.rows):
        stale.unlink(missing_ok=True)  # an earlier sweep's plot would now mislead
    else:
        written.append(_by_cost(result, stale, plt))
    return written


BOUNDS = {"accuracy": (0.0, 1.0), "kappa": (-1.0, 1.0), "f1": (0.0, 1.0)}
"""Where each score can lie: an interval is drawn clipped to it."""


def _by_size(result: ExperimentResult, metric: str, out: Path, plt: Any) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    low_bound, high_bound = BOUNDS[metric]
    curves = size_curves(result.rows, metric)
    for index, (key, points) in enumerate(curves.items()):
        # Each rule a little apart, so intervals of the same size do not hide each other.
        shift = 0.06 * (index - (len(curves) - 1) / 2)
        xs = [p.size + shift for p in points]
        means = [p.mean for p in points]
        below = [0.0 if p.low is None else p.mean - max(p.low, low_bound) for p in points]
        above = [0.0 if p.high is None else min(p.high, high_bound) - p.mean for p in points]
        bars = ax.errorbar(xs, means, yerr=[below, above], marker="o", capsize=3, label=key)
        colour = bars.lines[0].get_color()
        for x, p in zip(xs, points, strict=True):
            ax.annotate(
                f"n={p.n}",
                (x, p.mean),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=6,
                color=colour,
            )
    singles = {r.config.panel[0]: r.score(metric) for r in result.rows if r.size == 1}
    if singles:
        ax.scatter([1] * len(singles), list(singles.values()), color="black", marker="x",
                   zorder=3, label="single judges")  # fmt: skip
        for name, value in singles.items():
            ax.annotate(name, (1, value), textcoords="offset points", xytext=(-6, 0),
                        ha="right", va="center", fontsize=7)  # fmt: skip
    ax.axhline(
        float(getattr(result.baseline, metric)),
        color="grey",
        linestyle="--",
        linewidth=1,
        label="majority class (always the commoner label)",
    )
    ax.set_xlabel("jury size")
    ax.set_ylabel(metric)
    ax.set_ylim(low_bound - 0.02, high_bound + 0.02)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(
        f"{result.spec.name}: {metric} against the human majority "
        f"(mean over configurations, 95% interval)"
    )
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    ax.margins(x=0.15)  # room for the single judges' names left of size 1
    path = out / f"{metric}-by-size.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _by_cost(result: ExperimentResult, path: Path, plt: Any) -> Path:
    several_rounds = len({r.config.rounds for r in result.rows}) > 1
    groups: dict[str, list[ResultRow]] = defaultdict(list)
    for row in result.rows:
        groups[rule_key(row, several_rounds)].append(row)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for key, members in sorted(groups.items()):
        ax.scatter(
            [r.calls_per_verdict for r in members],
            [r.score("accuracy") for r in members],
            label=key,
            alpha=0.6,
        )
    ax.axhline(
        float(result.baseline.accuracy),
        color="grey",
        linestyle="--",
        linewidth=1,
        label="majority class",
    )
    ax.set_xlabel("model calls per verdict")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{result.spec.name}: accuracy against cost (each point a configuration)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
