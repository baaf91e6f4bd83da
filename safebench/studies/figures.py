"""A study's plots, one per axis (ASR by value, per model, with 95% intervals), the attack
uplift, ASR against parameter size, and the backbone uplift per category; PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safebench.studies.results import ALL, Row
from safebench.studies.spec import AXES, StudySpec


def write_figures(
    spec: StudySpec, rows: Sequence[Row], labels: dict[str, list[str]], out: Path
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Names from configs and datasets label the axes: never maths, never LaTeX.
    plt.rcParams.update({"text.parse_math": False, "text.usetex": False, "font.size": 9})
    out.mkdir(parents=True, exist_ok=True)
    baselines = {axis: spec.baseline_of(axis) for axis in labels}
    written = []
    for axis in (a for a in AXES if a in labels):
        # The other axes at their baselines: one comparable slice per plot.
        slice_ = [
            r
            for r in rows
            if r.category == ALL
            and all(r.values.get(a) == v for a, v in baselines.items() if a != axis)
        ]
        written.append(_grouped_bars(plt, axis, labels[axis], slice_, out / f"asr_by_{axis}.png"))
        if axis == "attack" and len(labels[axis]) > 1:
            written.append(
                _uplift_bars(
                    plt, axis, labels[axis], baselines[axis], slice_, out / "uplift_by_attack.png"
                )
            )
    at_base = [r for r in rows if all(r.values.get(a) == v for a, v in baselines.items())]
    if spec.families:
        written.append(_size_lines(plt, spec, at_base, out / "asr_by_size.png"))
    if spec.pairs:
        written.append(_pair_bars(plt, spec, at_base, out / "backbone_uplift.png"))
    return written


def _series(rows: Sequence[Row], axis: str) -> dict[str, dict[str, Row]]:
    series: dict[str, dict[str, Row]] = {}
    for row in rows:
        name = row.target if axis == "modality" else f"{row.target} ({row.modality})"
        series.setdefault(name, {})[row.values[axis]] = row
    return series


def _grouped_bars(plt: Any, axis: str, values: list[str], rows: Sequence[Row], path: Path) -> Path:
    series = _series(rows, axis)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(values) + 2), 3.6))
    width = 0.8 / max(1, len(series))
    for i, (name, by_value) in enumerate(sorted(series.items())):
        xs, ys, err = [], [], [[], []]
        for j, value in enumerate(values):
            row = by_value.get(value)
            if row is None or row.score.asr is None:
                continue
            s = row.score
            xs.append(j + (i - (len(series) - 1) / 2) * width)
            ys.append(100 * s.asr)
            err[0].append(max(0.0, 100 * (s.asr - (s.asr_low or 0))))
            err[1].append(max(0.0, 100 * ((s.asr_high or 0) - s.asr)))
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=name)
    ax.set_xticks(range(len(values)), values, rotation=20, ha="right")
    ax.set_ylabel("ASR (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"ASR by {axis} (95% Wilson intervals)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(plt, fig, path)


def _uplift_bars(
    plt: Any, axis: str, values: list[str], base: str, rows: Sequence[Row], path: Path
) -> Path:
    series = _series(rows, axis)
    others = [v for v in values if v != base]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(others) + 2), 3.6))
    width = 0.8 / max(1, len(series))
    for i, (name, by_value) in enumerate(sorted(series.items())):
        xs, ys, err = [], [], [[], []]
        for j, value in enumerate(others):
            row = by_value.get(value)
            if row is None or axis not in row.uplift:
                continue
            u = row.uplift[axis]
            xs.append(j + (i - (len(series) - 1) / 2) * width)
            ys.append(u.points)
            err[0].append(max(0.0, u.points - u.low))
            err[1].append(max(0.0, u.high - u.points))
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=name)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(others)), others, rotation=20, ha="right")
    ax.set_ylabel(f"ASR uplift over {base} (points)")
    ax.set_title(f"{axis.capitalize()} uplift (95% Newcombe intervals)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(plt, fig, path)


def _size_lines(plt: Any, spec: StudySpec, rows: Sequence[Row], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    index = {(r.target, r.modality): r for r in rows if r.category == ALL}
    for family in spec.families:
        for modality in sorted({m for _, m in index}):
            points = sorted(
                (size, index[(t, modality)])
                for t, size in family.sizes.items()
                if (t, modality) in index and index[(t, modality)].score.asr is not None
            )
            if not points:
                continue
            sizes = [p[0] for p in points]
            asr = [100 * (p[1].score.asr or 0) for p in points]
            low = [100 * (p[1].score.asr_low or 0) for p in points]
            high = [100 * (p[1].score.asr_high or 0) for p in points]
            ax.plot(sizes, asr, marker="o", label=f"{family.name} ({modality})")
            ax.fill_between(sizes, low, high, alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (billions, log scale)")
    ax.set_ylabel("ASR (%)")
    ax.set_ylim(0, 100)
    ax.set_title("ASR against parameter size (95% Wilson bands)")
    ax.legend(fontsize=7)
    return _save(plt, fig, path)


def _pair_bars(plt: Any, spec: StudySpec, rows: Sequence[Row], path: Path) -> Path:
    from safebench.studies.results import uplift_between
    from safebench.studies.tables import pair_modality

    index = {(r.target, r.modality, r.category): r for r in rows}
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    categories = sorted({c for (_, _, c) in index if c != ALL})
    width = 0.8 / max(1, len(spec.pairs))
    for i, pair in enumerate(spec.pairs):
        modality = pair_modality(index, pair.model, pair.backbone)
        xs, ys, err = [], [], [[], []]
        for j, category in enumerate(categories):
            a, b = (
                index.get((pair.model, modality, category)),
                index.get((pair.backbone, modality, category)),
            )
            up = None if a is None or b is None else uplift_between(a.score, b.score, pair.backbone)
            if up is None:
                continue
            xs.append(j + (i - (len(spec.pairs) - 1) / 2) * width)
            ys.append(up.points)
            err[0].append(max(0.0, up.points - up.low))
            err[1].append(max(0.0, up.high - up.points))
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=f"{pair.model} - {pair.backbone}")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
    ax.set_ylabel("ASR uplift (points)")
    ax.set_title("Multimodal model minus its backbone, same queries (95% intervals)")
    ax.legend(fontsize=7)
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path
