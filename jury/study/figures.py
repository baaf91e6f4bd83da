"""Plots of a sweep (matplotlib, Agg: files only, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jury.study.experiment import ExperimentResult


def write_plots(result: ExperimentResult, out: Path) -> list[Path]:
    """Accuracy and kappa by jury size, and accuracy against cost; returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Labels carry the spec's and the jurors' names: plain text, never mathtext (a `$` in a
    # name would fail the plot) and never LaTeX.
    with plt.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _write_plots(result, out, plt)


def _write_plots(result: ExperimentResult, out: Path, plt: Any) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rows = result.rows
    groups: dict[str, list] = {}
    for row in rows:
        key = f"{row.config.rule.rule} r{row.config.rounds}"
        groups.setdefault(key, []).append(row)
    written: list[Path] = []
    for metric in ("accuracy", "kappa"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, members in sorted(groups.items()):
            ax.scatter(
                [r.size for r in members], [r.score(metric) for r in members], label=key, alpha=0.6
            )
        ax.set_xlabel("jury size")
        ax.set_ylabel(metric)
        ax.set_title(f"{result.spec.name}: {metric} against the human majority")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
        path = out / f"{metric}-by-size.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, members in sorted(groups.items()):
        ax.scatter(
            [r.calls_per_verdict for r in members],
            [r.score("accuracy") for r in members],
            label=key,
            alpha=0.6,
        )
    ax.set_xlabel("model calls per verdict")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{result.spec.name}: accuracy against cost")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    path = out / "accuracy-by-cost.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written
