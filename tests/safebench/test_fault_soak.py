"""A run against a server that breaks a share of its answers loses nothing.

The server injects a seeded mix of 429 (with Retry-After), 500, timeouts, dropped
connections, truncated streams and garbage bodies. Every case must end judged or failed with
its cause recorded, the counts must add up to the cases put, and the store must stay sound.
The full 10k-juror-call soak is ``bench/soak.py``; this is the same code on fewer queries.

The outcome must depend only on the faults the server injects, never on the machine's speed
(on a busy 2-core machine a 5 s attempt timeout failed 26 of 120 cases whose answers were
merely late). So the attempt timeout here is one no loaded machine reaches, and the
server's ``delay`` faults become slow answers that the gateway waits out, released by the
server after their fixed delay. Attempt timeouts themselves are tested with a scripted hang
in tests/agents/test_gateway.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.soak import soak
from transcripts.store import RunStore

UNHURRIED = {
    "gateway": {
        "max_retries": 2,
        "backoff_base_s": 0.005,
        "backoff_max_s": 0.05,
        "timeout_s": 3600.0,
    }
}
"""bench.soak's gateway with an attempt timeout no machine load reaches (see above)."""
# No "timeout": with UNHURRIED a case can fail only by three injected faults in a row.
CAUSE = re.compile(r"(rate_limit|server_error|connection|malformed_reply) after \d")


@pytest.mark.slow
async def test_soak_with_five_percent_mixed_faults_loses_no_case(tmp_path: Path) -> None:
    result = await soak(tmp_path, 120, fault_rate=0.05, seed=11, concurrency=32, **UNHURRIED)

    # Every fault kind was really injected, not just configured.
    assert set(result.faults) == {
        "rate_limit",
        "server_error",
        "delay",
        "drop",
        "truncate",
        "garbage",
    }, result.faults
    assert result.status == "complete"
    assert result.case_rows == 120 == sum(result.counts.values())
    assert set(result.counts) <= {"judged", "failed"}
    assert result.counts.get("judged", 0) >= 110
    for error in result.failed_errors:
        assert CAUSE.search(error), error
    assert result.integrity == "ok"
    with RunStore(tmp_path / "soak.sqlite") as store:
        # Verdicts are read back in pages (memory stays flat at 100k cases): none lost or
        # repeated at page edges.
        paged = [meta.case_id for meta, _v in store.judged(page=7)]
        whole = [meta.case_id for meta, _v in store.judged(page=10_000)]
    assert paged == whole and len(set(paged)) == result.counts["judged"]


async def test_mostly_failing_run_stops_with_a_clear_message(tmp_path: Path) -> None:
    result = await soak(
        tmp_path,
        200,
        fault_rate=0.8,
        seed=3,
        concurrency=4,
        min_cases_before_abort=10,
        max_failure_rate=0.5,
        **UNHURRIED,
    )
    assert result.status == "aborted"
    assert result.aborted_message is not None
    assert "max_failure_rate 0.5" in result.aborted_message
    assert str(tmp_path / "soak.sqlite") in result.aborted_message
    # It stopped early: far fewer cases than the dataset holds were attempted.
    assert 10 <= result.case_rows < 100
    for error in result.failed_errors:
        assert CAUSE.search(error), error
    with RunStore(tmp_path / "soak.sqlite") as store:
        assert store.run_record().status == "aborted"
        assert store.integrity_check() == "ok"
