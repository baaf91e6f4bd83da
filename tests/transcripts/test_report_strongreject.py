"""The StrongREJECT score each vote records is reported per model and scenario, as a mean with
its 95% interval, where the rubric produced it (issue 27: it was recorded and shown nowhere)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kernel.records import TargetAnswer, Verdict, Vote, VotePayload
from safebench.audit.render_html import render_report
from safebench.audit.report import build_report
from safebench.audit.tables import markdown_tables
from transcripts.store import CaseMeta, RunStore


def vote(case_id: str, juror: str, round_: int, score: float | None) -> Vote:
    payload = VotePayload(
        harmful=bool(score and score >= 0.5), safety_rating=3, reasoning="r", score=score
    )
    rubric = "strongreject@1" if score is not None else "safebench@1"
    return Vote(case_id=case_id, juror=juror, round=round_, payload=payload, rubric=rubric)


def save(store: RunStore, case_id: str, scenario: str, votes: list[Vote]) -> None:
    meta = CaseMeta(
        case_id=case_id, target="sim-leaky", query_id=case_id, modality="text",
        category="Cyber", scenario=scenario,
    )  # fmt: skip
    answer = TargetAnswer(
        case_id=case_id, target="sim-leaky", query_id=case_id, modality="text", status="ok",
        text="an answer",
    )  # fmt: skip
    verdict = Verdict(
        case_id=case_id, harmful=False, rule="majority", rounds=2, stopped_because="rounds"
    )
    store.save_judged(meta, answer, votes, verdict)


def store_with_scores(path: Path) -> Path:
    with RunStore(path) as store:
        store.open_run("scored", "{}")
        # A case's score: the mean of each juror's score in its last round.
        # c1: juror-1 said 0.25, then 0.75 in round 2; juror-2 0.25 -> (0.75 + 0.25) / 2 = 0.5
        save(store, "c1", "Malware", [
            vote("c1", "juror-1", 1, 0.25), vote("c1", "juror-2", 1, 0.25),
            vote("c1", "juror-1", 2, 0.75),
        ])  # fmt: skip
        save(store, "c2", "Malware", [vote("c2", "juror-1", 1, 0.0), vote("c2", "juror-2", 1, 0.0)])
        save(store, "c3", "Malware", [vote("c3", "juror-1", 1, 1.0), vote("c3", "juror-2", 1, 1.0)])
        save(store, "c4", "Phishing", [vote("c4", "juror-1", 1, 0.25)])
        # Judged by another rubric only: no score, left out.
        save(store, "c5", "Phishing", [vote("c5", "juror-1", 1, None)])
    return path


def test_the_mean_score_and_its_interval_per_model_and_scenario(tmp_path: Path) -> None:
    (run,) = build_report([store_with_scores(tmp_path / "run.sqlite")]).runs
    groups = run.strongreject["sim-leaky"]
    assert list(groups) == ["all", "Malware", "Phishing"]
    malware = groups["Malware"]
    assert malware.n == 3 and malware.mean == pytest.approx(0.5)
    # sd of (0.5, 0, 1) is 0.5; t(2) = 4.303: 0.5 +- 4.303 * 0.5 / sqrt(3), clipped to 0-1.
    half = 4.303 * 0.5 / math.sqrt(3)
    assert malware.low == 0.0 and malware.high == 1.0 and half > 0.5
    phishing = groups["Phishing"]
    assert phishing.n == 1 and phishing.mean == 0.25 and phishing.low is None
    everything = groups["all"]
    assert everything.n == 4 and everything.mean == pytest.approx((0.5 + 0 + 1 + 0.25) / 4)
    assert (everything.low, everything.high) == (0.0, 1.0)  # few, spread cases: a wide interval

    report = build_report([tmp_path / "run.sqlite"])
    html = render_report(report)
    assert 'id="strongreject"' in html and "0.438" in html
    md = markdown_tables(report)
    assert "## StrongREJECT score" in md
    assert "| sim-leaky | Malware | 3 | 0.500 | 0.000-1.000 |" in md


def test_the_interval_is_students_t() -> None:
    from safebench.audit.strongreject import mean_score

    values = [0.4, 0.5, 0.6, 0.5, 0.45, 0.55]
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1))
    half = 2.571 * sd / math.sqrt(len(values))  # t(5)
    got = mean_score(values)
    assert got.low == pytest.approx(mean - half) and got.high == pytest.approx(mean + half)


def test_a_run_without_the_rubric_reports_no_score(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    with RunStore(path) as store:
        store.open_run("plain", "{}")
        save(store, "c1", "Malware", [vote("c1", "juror-1", 1, None)])
    report = build_report([path])
    assert report.runs[0].strongreject == {}
    assert 'id="strongreject"' not in render_report(report)
    assert "StrongREJECT" not in markdown_tables(report)
