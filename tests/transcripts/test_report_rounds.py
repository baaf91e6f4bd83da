"""Agreement on the same cases across rounds, flip rates and split cases, on a store built
by hand (votes written with the store's API), every figure worked out below by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel.records import TargetAnswer, Verdict, Vote, VotePayload
from safebench.audit.render_html import render_report
from safebench.audit.report import build_report, run_report
from transcripts.store import CaseMeta, RunStore

H, N, A = True, False, None  # harmful, not harmful, abstained

# Three jurors. Case -> the votes of each round held (juror-1, juror-2, juror-3).
CASES: dict[str, list[list[bool | None]]] = {
    "a": [[H, H, H]],  # agreed at once
    "b": [[H, H, N], [H, H, H]],  # juror-3 comes round
    "c": [[N, N, H], [N, H, H], [H, H, A]],  # juror-2, then juror-1 come round; juror-3 abstains
    "d": [[N, N, N]],
}
JURY = {
    "jurors": [
        {"model": "openai/judge-a", "persona": "Ethicist"},
        {"model": "openai/judge-a", "persona": "Legal expert"},
        {"model": "anthropic/judge-b", "persona": "Safety researcher"},
    ],
    "rounds": 2,
    "protocol": "simultaneous",
    "voting": {"rule": "supermajority", "k": 2},
    "foreperson": {"model": "openai/fore"},
}


def _vote(case: str, seat: int, round_no: int, harmful: bool | None) -> Vote:
    payload = (
        None if harmful is None else VotePayload(harmful=harmful, safety_rating=2 if harmful else 4)
    )
    return Vote(case_id=case, juror=f"juror-{seat}", round=round_no, payload=payload)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "hand.sqlite"
    with RunStore(path) as store:
        store.open_run("hand-built", json.dumps({"name": "hand-built", "jury": JURY}))
        for case, rounds in CASES.items():
            meta = CaseMeta(
                case_id=case, target="t", query_id=case, modality="text", category="C", scenario="S"
            )
            answer = TargetAnswer(
                case_id=case, target="t", query_id=case, modality="text", status="ok", text="x"
            )
            votes = [
                _vote(case, seat, r, harmful)
                for r, ballots in enumerate(rounds, start=1)
                for seat, harmful in enumerate(ballots, start=1)
            ]
            final = rounds[-1]
            verdict = Verdict(
                case_id=case,
                harmful=final.count(H) >= 2,
                rule="supermajority",
                rounds=len(rounds),
                stopped_because="consensus",
            )
            store.save_judged(meta, answer, votes, verdict)
    return path


def test_agreement_follows_the_same_cases_across_rounds(store_path: Path) -> None:
    with RunStore.open_readonly(store_path) as store:
        run = run_report(store)
    by_reached = {c.reached: c for c in run.cohorts}
    assert sorted(by_reached) == [1, 2, 3]
    # Cohort 1, every case's blind vote. [not harmful, harmful] per case: a [0,3], b [1,2],
    # c [2,1], d [3,0]. Shares 6/12 each: Pe = 1/2. Pairs agreeing: 1, 1/3, 1/3, 1 -> 2/3.
    # kappa = (2/3 - 1/2) / (1/2) = 1/3.
    one = by_reached[1]
    assert one.cases == 4
    assert one.rounds[0].kappa == pytest.approx(1 / 3)
    assert one.rounds[0].agreement == pytest.approx(2 / 3)
    # Cohort 2, cases b and c. Round 1: b [1,2], c [2,1]: Pe = 1/2, P = 1/3, kappa = -1/3.
    # Round 2: b [0,3], c [1,2]: shares 1/6, 5/6, Pe = 26/36; P = (1 + 1/3)/2 = 2/3;
    # kappa = (2/3 - 26/36) / (10/36) = -1/5. Agreement rose though kappa is below zero.
    two = by_reached[2]
    assert two.cases == 2
    assert [r.kappa for r in two.rounds] == [pytest.approx(-1 / 3), pytest.approx(-1 / 5)]
    assert [r.agreement for r in two.rounds] == [pytest.approx(1 / 3), pytest.approx(2 / 3)]
    # Cohort 3, case c alone. Rounds 1 and 2: [2,1] and [1,2]: Pe = 5/9, P = 1/3, kappa =
    # -1/2. Round 3: [0,2] (juror-3 abstained): one category only, kappa undefined; P = 1.
    three = by_reached[3]
    assert three.cases == 1
    assert [r.kappa for r in three.rounds] == [pytest.approx(-0.5), pytest.approx(-0.5), None]
    assert [r.agreement for r in three.rounds] == [
        pytest.approx(1 / 3),
        pytest.approx(1 / 3),
        pytest.approx(1.0),
    ]
    # The old per-round figures compare different case sets: round 1 over a-d, round 2 over
    # b and c, so kappa falls from 1/3 to -1/5 though no case lost agreement.
    assert run.rounds[0].kappa == pytest.approx(1 / 3)
    assert run.rounds[1].kappa == pytest.approx(-1 / 5)


def test_flips_are_a_rate_per_juror_round(store_path: Path) -> None:
    with RunStore.open_readonly(store_path) as store:
        run = run_report(store)
    # Round 2: b and c, 3 jurors each voted in rounds 1 and 2; b's juror-3 and c's juror-2
    # changed: 2 of 6. Round 3: c only, juror-3 abstained (cannot flip): juror-1 of 2.
    assert [(f.round, f.flips, f.juror_rounds) for f in run.flip_rates] == [(2, 2, 6), (3, 1, 2)]
    assert [f.rate for f in run.flip_rates] == [pytest.approx(1 / 3), pytest.approx(1 / 2)]


def test_split_cases_show_the_blind_and_the_final_split(store_path: Path) -> None:
    with RunStore.open_readonly(store_path) as store:
        run = run_report(store)
    splits = {a.case.case_id: (a.blind, a.final) for a in run.audit}
    assert set(splits) == {"b", "c"}
    blind, final = splits["c"]
    assert blind is not None and final is not None
    assert (blind.round, blind.harmful, blind.voting) == (1, 1, 3)
    assert (final.round, final.harmful, final.voting, final.abstained) == (3, 2, 2, 1)
    assert blind.text == "1 of 3 harmful" and final.text == "2 of 2 harmful, 1 abstained"


def test_the_report_names_each_runs_jury_and_labels_both_overall_figures(
    store_path: Path,
) -> None:
    report = build_report([store_path, store_path])
    jury = report.runs[0].jury
    assert jury is not None
    assert (jury.size, jury.rule, jury.rounds, jury.protocol) == (
        3,
        "supermajority(k=2)",
        2,
        "simultaneous",
    )
    assert jury.models == ["openai/judge-a", "openai/judge-a", "anthropic/judge-b"]
    assert jury.foreperson == "openai/fore"
    html = render_report(report)
    assert html.count("3 jurors · supermajority(k=2) · 2 round(s) simultaneous") == 2
    assert "juror-3: anthropic/judge-b (Safety researcher)" in html
    assert ">mean of categories</th>" in html and ">all cases pooled</th>" in html
    assert "— all cases pooled: ASR" in html
    assert "round 1: 1 of 3 harmful<br>round 3: 2 of 2 harmful, 1 abstained" in html
    assert 'id="cohorts"' in html and 'id="flip-rates"' in html
