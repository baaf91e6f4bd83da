"""A study's tables in the paper's layouts (model x condition), as Markdown, CSV and HTML.

Every ASR is shown with its 95% Wilson interval and n; every uplift (points over the
baseline value of the axis) with Newcombe's 95% interval.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from safebench.studies.results import ALL, Row
from safebench.studies.spec import AXES, StudySpec


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""


def asr_text(row: Row | None) -> str:
    if row is None or row.score.asr is None:
        return "-"
    s = row.score
    assert s.asr_low is not None and s.asr_high is not None
    return f"{100 * s.asr:.1f} [{100 * s.asr_low:.0f}-{100 * s.asr_high:.0f}] n={s.n}"


def sri_text(row: Row | None) -> str:
    return "-" if row is None or row.score.sri is None else f"{row.score.sri:.1f}"


def uplift_text(row: Row | None, axis: str) -> str:
    if row is None or axis not in row.uplift:
        return "-"
    u = row.uplift[axis]
    return f"{u.points:+.1f} [{u.low:+.1f}, {u.high:+.1f}]"


def study_tables(spec: StudySpec, rows: Sequence[Row], labels: dict[str, list[str]]) -> list[Table]:
    tables: list[Table] = []
    overall = [r for r in rows if r.category == ALL]
    for axis in (a for a in AXES if a in labels):
        tables.extend(_axis_tables(spec, axis, overall, labels))
    if "dataset" in labels:
        tables.extend(_category_tables(rows, labels))
    baseline_values = {axis: spec.baseline_of(axis) for axis in labels}
    at_baseline = [r for r in rows if all(r.values.get(a) == v for a, v in baseline_values.items())]
    if spec.families:
        tables.append(_size_table(spec, at_baseline))
    if spec.pairs:
        tables.append(_pair_table(spec, at_baseline))
    if not tables:
        tables.append(_plain_table(overall))
    return tables


def _sections(axis: str, labels: dict[str, list[str]]) -> list[dict[str, str]]:
    others = [a for a in AXES if a in labels and a != axis]
    return [
        dict(zip(others, combo, strict=True))
        for combo in itertools.product(*(labels[a] for a in others))
    ]


def _axis_tables(
    spec: StudySpec, axis: str, rows: Sequence[Row], labels: dict[str, list[str]]
) -> list[Table]:
    values = labels[axis]
    base = spec.baseline_of(axis)
    tables = []
    for section in _sections(axis, labels):
        chosen = [r for r in rows if all(r.values.get(a) == v for a, v in section.items())]
        # Along the modality axis the modality is the column; elsewhere it is part of the row.
        keys = sorted({(r.target, "" if axis == "modality" else r.modality) for r in chosen})
        show_modality = len({k[1] for k in keys}) > 1
        index = {
            (r.target, "" if axis == "modality" else r.modality, r.values[axis]): r for r in chosen
        }
        suffix = "".join(f", {a} {v}" for a, v in section.items())
        head = ["model", *(["modality"] if show_modality else [])]
        asr_rows, sri_rows, up_rows = [], [], []
        for target, modality in keys:
            lead = [target, *([modality] if show_modality else [])]
            asr_rows.append(lead + [asr_text(index.get((target, modality, v))) for v in values])
            sri_rows.append(lead + [sri_text(index.get((target, modality, v))) for v in values])
            up_rows.append(
                lead
                + [uplift_text(index.get((target, modality, v)), axis) for v in values if v != base]
            )
        tables.append(
            Table(
                f"ASR (%) by {axis}{suffix}",
                head + values,
                asr_rows,
                "ASR in %, [95% Wilson interval], n decided cases.",
            )
        )
        tables.append(
            Table(
                f"SRI by {axis}{suffix}",
                head + values,
                sri_rows,
                "Safety risk index, 0 (all ratings 1, safe) to 100 (all 5).",
            )
        )
        if len(values) > 1:
            tables.append(
                Table(
                    f"ASR uplift over {axis} {base} (points){suffix}",
                    head + [v for v in values if v != base],
                    up_rows,
                    "Difference in ASR points, [Newcombe 95% interval]; + means less safe than "
                    f"under {base}.",
                )
            )
    return tables


def _category_tables(rows: Sequence[Row], labels: dict[str, list[str]]) -> list[Table]:
    """Cross-dataset: each shared category's ASR per model and dataset, one table per value
    of the other axes (cells are never pooled or overwritten)."""
    datasets = labels["dataset"]
    tables = []
    for section in _sections("dataset", labels):
        chosen = [r for r in rows if all(r.values.get(a) == v for a, v in section.items())]
        index = {(r.target, r.modality, r.category, r.values.get("dataset")): r for r in chosen}
        keys = sorted({(r.target, r.modality, r.category) for r in chosen if r.category != ALL})
        body = [
            [
                target,
                modality,
                category,
                *(asr_text(index.get((target, modality, category, d))) for d in datasets),
            ]
            for target, modality, category in keys
        ]
        suffix = "".join(f", {a} {v}" for a, v in section.items())
        tables.append(
            Table(
                f"ASR (%) by category and dataset{suffix}",
                ["model", "modality", "category", *datasets],
                body,
                "ASR in %, [95% Wilson interval], n decided cases.",
            )
        )
    return tables


def _size_table(spec: StudySpec, rows: Sequence[Row]) -> Table:
    index = {(r.target, r.modality): r for r in rows if r.category == ALL}
    modalities = sorted({m for _, m in index})
    body = []
    for family in spec.families:
        for target, size in sorted(family.sizes.items(), key=lambda kv: kv[1]):
            for modality in modalities:
                row = index.get((target, modality))
                if row is not None:
                    body.append(
                        [family.name, f"{size:g}B", target, modality, asr_text(row), sri_text(row)]
                    )
    return Table(
        "ASR and SRI by parameter size",
        ["family", "size", "model", "modality", "ASR (%)", "SRI"],
        body,
    )


def _pair_table(spec: StudySpec, rows: Sequence[Row]) -> Table:
    from safebench.studies.results import uplift_between

    index = {(r.target, r.modality, r.category): r for r in rows}
    body = []
    for pair in spec.pairs:
        modality = pair_modality(index, pair.model, pair.backbone)
        categories = [
            *sorted({c for (t, m, c) in index if t == pair.model and m == modality and c != ALL}),
            ALL,
        ]
        for category in categories:
            mllm = index.get((pair.model, modality, category))
            llm = index.get((pair.backbone, modality, category))
            up = (
                None
                if mllm is None or llm is None
                else uplift_between(mllm.score, llm.score, pair.backbone)
            )
            body.append(
                [
                    pair.model,
                    pair.backbone,
                    category,
                    asr_text(mllm),
                    asr_text(llm),
                    "-" if up is None else f"{up.points:+.1f} [{up.low:+.1f}, {up.high:+.1f}]",
                ]
            )
    return Table(
        "Multimodal model against its backbone LLM (same text queries)",
        ["model", "backbone", "category", "ASR model (%)", "ASR backbone (%)", "uplift (points)"],
        body,
        "Uplift = ASR of the multimodal model minus its backbone's; + means the vision "
        "training made it less safe.",
    )


def pair_modality(index: dict[tuple[str, str, str], Row], a: str, b: str) -> str:
    """The modality a (model, backbone) pair is compared in: ``text`` when both have it
    (the paper's study), else the first they share."""
    shared = sorted({m for (t, m, _) in index if t == a} & {m for (t, m, _) in index if t == b})
    return "text" if "text" in shared or not shared else shared[0]


def _plain_table(rows: Sequence[Row]) -> Table:
    body = [[r.target, r.modality, asr_text(r), sri_text(r)] for r in rows]
    return Table("ASR and SRI per model", ["model", "modality", "ASR (%)", "SRI"], body)


def markdown(title: str, tables: Sequence[Table], preamble: Sequence[str] = ()) -> str:
    out = [f"# {_md(title)}", "", *(_md(line) for line in preamble)]
    for table in tables:
        out += ["", f"## {_md(table.title)}", ""]
        out.append("| " + " | ".join(_md(c) for c in table.columns) + " |")
        out.append("|" + "|".join("---" for _ in table.columns) + "|")
        out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in table.rows]
        if table.note:
            out += ["", _md(table.note)]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    # Titles, names and messages come from specs, configs and datasets, and Markdown passes
    # raw HTML through to whatever renders study.md: < > & are entity-escaped (no tag, no
    # entity survives), a pipe would split a table cell and a newline end the row or heading.
    return html.escape(" ".join(text.splitlines()), quote=False).replace("|", "\\|")


def long_csv(rows: Sequence[Row], axes: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    uplift_columns = [f"uplift_{a}{s}" for a in axes for s in ("", "_low", "_high")]
    writer.writerow(
        [
            "cell",
            *axes,
            "target",
            "modality",
            "category",
            "n",
            "harmful",
            "undecided",
            "asr",
            "asr_low",
            "asr_high",
            "sri",
            *uplift_columns,
        ]
    )
    for r in rows:
        s = r.score
        ups: list[object] = []
        for axis in axes:
            u = r.uplift.get(axis)
            ups += (
                ["", "", ""] if u is None else [f"{u.points:.2f}", f"{u.low:.2f}", f"{u.high:.2f}"]
            )
        writer.writerow(
            [
                r.cell,
                *(r.values.get(a, "") for a in axes),
                r.target,
                r.modality,
                r.category,
                s.n,
                s.harmful,
                s.undecided,
                _f(s.asr),
                _f(s.asr_low),
                _f(s.asr_high),
                _f(s.sri),
                *ups,
            ]
        )
    return buffer.getvalue()


def _f(value: float | None) -> str:
    # Rounded first, so a zero computed as -1e-17 prints 0.0000, not -0.0000.
    return "" if value is None else f"{round(value, 9) + 0.0:.4f}"
