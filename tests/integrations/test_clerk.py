"""The jury's clerk on its own: the cases it files for answers no juror needs to read.

A provider's refusal with no content is a safe verdict with no juror asked; an empty answer
is a failed case, never judged; the queries file beside the store (what lets the viewer
show a case's image) survives a process killed mid-write. The jury is the offline one, and
none of these cases asks it anything.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from kernel.records import Query
from safebench.integrations.clerk import Judged, clerk_for, close_clerks
from safebench.integrations.settings import load_jury_settings
from safebench.integrations.submission import Submission
from transcripts.store import RunStore, queries_file_sha256

ROOT = Path(__file__).resolve().parents[2]
JURY = ROOT / "examples/juries/offline-default.yaml"


def judge_all(store: Path, subs: list[Submission]) -> list[Judged]:
    async def run() -> list[Judged]:
        settings = load_jury_settings("inspect", JURY, store=store)
        try:
            clerk = await clerk_for(settings)
            return [await clerk.judge(sub) for sub in subs]
        finally:
            await close_clerks()

    return asyncio.run(run())


def test_a_refusal_is_safe_with_no_juror_and_an_empty_answer_fails(tmp_path: Path) -> None:
    store = tmp_path / "clerk.sqlite"
    refused, empty = judge_all(
        store,
        [
            Submission(sample_id="1", target="m", request="How?", answer="", refused=True),
            Submission(sample_id="2", target="m", request="Why?", answer="  "),
        ],
    )
    assert refused.verdict is not None and refused.verdict.harmful is False
    assert refused.votes == () and refused.error is None
    assert empty.verdict is None and empty.error == "target: empty answer (nothing to judge)"
    assert empty.failure == "no_answer"
    with RunStore.open_readonly(store) as opened:
        assert opened.status_counts() == {"judged": 1, "failed": 1}
        assert opened.call_counts() == {}  # no juror was asked
        assert opened.run_record().status == "complete"


def test_half_a_line_left_in_the_queries_file_is_dropped_and_the_digest_kept(
    tmp_path: Path,
) -> None:
    store = tmp_path / "clerk.sqlite"
    folder = tmp_path / "clerk-dataset"
    folder.mkdir()
    whole = Query(id="old@1", category="c", scenario="s", text="An old request")
    (folder / "queries.jsonl").write_text(
        whole.model_dump_json() + "\n" + '{"type": "query", "id": "cut', encoding="utf-8"
    )
    judge_all(
        store, [Submission(sample_id="3", target="m", request="New?", answer="No.", refused=True)]
    )
    lines = (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    assert [Query.model_validate_json(line).text for line in lines] == ["An old request", "New?"]
    with RunStore.open_readonly(store) as opened:
        assert opened.dataset_root() == folder.resolve()
        assert opened.dataset_queries_sha256() == queries_file_sha256(folder)
