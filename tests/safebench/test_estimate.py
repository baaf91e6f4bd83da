"""``safebench run CONFIG --estimate``: counts against hand-computed values for a small
config, dollars from litellm's price map, and not one model call (a server stands ready and
must see nothing)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agents.llm import load_litellm
from safebench.cli.app import app
from safebench.run.config import RunConfig
from safebench.run.estimate import Assumptions, estimate_run, juror_rounds
from tests.safebench.helpers import write_config
from tests.support.sim_server import ServerThread, SimServer

TEXT = "x" * 40
"""Every query's text: 10 tokens at 4 characters a token."""


def _dataset(root: Path) -> Path:
    """Three queries; the first two have an image, the third has none."""
    (root / "images").mkdir(parents=True)
    rows = []
    for n in (1, 2, 3):
        row: dict[str, Any] = {
            "type": "query",
            "id": f"q{n}",
            "category": "Consultation",
            "scenario": "Medical Advice",
            "text": TEXT,
        }
        if n < 3:
            data = f"picture {n}".encode()
            (root / "images" / f"q{n}.png").write_bytes(data)
            row["image"] = {
                "path": f"images/q{n}.png",
                "sha256": hashlib.sha256(data).hexdigest(),
                "mime_type": "image/png",
            }
        rows.append(json.dumps(row))
    (root / "queries.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def _config(base_url: str, tmp_path: Path) -> dict[str, Any]:
    def model(served: str, **more: Any) -> dict[str, Any]:
        return {"model": f"openai/{served}", "api_base": base_url, "api_key": "sk-test", **more}

    return {
        "name": "estimate",
        "store": str(tmp_path / "run.sqlite"),
        "dataset": str(_dataset(tmp_path / "data")),
        "modalities": ["text", "image"],
        "targets": [
            model("gpt-4o-mini", name="priced", accepts=["text", "image"]),
            model("sim-textonly", name="textonly", accepts=["text"]),
        ],
        "jury": {
            "jurors": [
                model("pattern-juror", persona="Safety researcher"),
                model("pattern-juror", persona="Ethicist"),
                model("refusal-juror", persona="Legal expert"),
            ],
            "rounds": 2,
            "early_stop": ["no_change", "consensus"],
            "foreperson": model("foreperson"),
        },
        "concurrency": 2,
        "gateway": {"providers": {"openai": {"requests_per_second": 1}}},
    }


@pytest.fixture
def server() -> Any:
    thread = ServerThread(SimServer()).start()
    try:
        yield thread
    finally:
        thread.stop()


def test_estimate_counts_cases_calls_tokens_and_dollars_by_hand(
    server: ServerThread, tmp_path: Path
) -> None:
    config = RunConfig.model_validate(_config(server.base_url, tmp_path))
    found = estimate_run(config, Assumptions(latency_s=2.0))

    # 3 queries x 2 modalities x 2 targets. Image cases: q3 has no image (2 cases, one per
    # target) and the text-only target takes none (q1, q2): 4 skipped, 8 asked.
    assert (found.cases, found.asked, found.already_finished) == (12, 8, 0)
    assert found.skipped == {"query lacks image input": 2, "target does not accept image": 2}
    calls = {(r.role, r.model): (r.calls_best, r.calls_worst) for r in found.roles}
    assert calls[("target", "openai/gpt-4o-mini")] == (5, 5)  # 3 text + 2 image
    assert calls[("target", "openai/sim-textonly")] == (3, 3)
    jurors = [r for r in found.roles if r.role == "juror"]
    # Best: consensus on the blind vote; worst: the blind vote and both rounds.
    assert [(r.calls_best, r.calls_worst) for r in jurors] == [(8, 24)] * 3
    assert calls[("foreperson", "openai/foreperson")] == (8, 8)
    assert (found.calls_best, found.calls_worst) == (5 + 3 + 24 + 8, 5 + 3 + 72 + 8)

    priced = next(r for r in found.roles if r.model == "openai/gpt-4o-mini")
    # 5 texts of 10 tokens and 2 images of 765; 5 answers of 400 tokens.
    assert priced.prompt_tokens_worst == 5 * 10 + 2 * 765
    assert priced.completion_tokens_worst == 5 * 400
    price = load_litellm().model_cost["gpt-4o-mini"]
    expected = 1580 * price["input_cost_per_token"] + 2000 * price["output_cost_per_token"]
    assert priced.usd_worst == pytest.approx(expected)
    assert found.usd_worst == pytest.approx(expected)
    # The local models are not in litellm's map: unpriced, never a silent $0.
    assert "openai/sim-textonly" in found.unpriced and "openai/pattern-juror" in found.unpriced
    assert next(r for r in found.roles if r.model == "openai/sim-textonly").usd_worst is None
    assert "openai/gpt-4o-mini" not in found.unpriced

    # Worst case: 88 calls at the openai provider's 1 request/s (cases in flight allow
    # 8 cases x 5 calls of 2 s in a row / 2 at once = 40 s). Best: 40 calls = 40 s, against
    # 8 x 3 calls x 2 s / 2 = 24 s.
    assert found.wall_s_worst == pytest.approx(88.0)
    assert found.bound_by == "openai requests_per_second"
    assert found.wall_s_best == pytest.approx(40.0)

    assert server.server.count() == 0, "the estimate called a model"
    assert not (tmp_path / "run.sqlite").exists(), "the estimate wrote the store"


def test_early_stop_rules_set_the_best_case() -> None:
    from jury.config import JuryConfig

    def rounds(**jury: Any) -> tuple[int, int]:
        jurors = [{"model": "safebench/pattern-juror"}]
        return juror_rounds(JuryConfig.model_validate({"jurors": jurors, **jury}))

    assert rounds(rounds=2) == (1, 3)  # the default early stop includes consensus
    assert rounds(rounds=2, early_stop=["no_change"]) == (2, 3)  # needs a round to compare
    assert rounds(rounds=2, early_stop=[]) == (3, 3)
    assert rounds(rounds=0) == (1, 1)


def test_estimate_leaves_out_cases_the_store_already_finished(
    server: ServerThread, tmp_path: Path
) -> None:
    from kernel.records import TargetAnswer, case_id
    from transcripts.store import CaseMeta, RunStore

    config = RunConfig.model_validate(_config(server.base_url, tmp_path))
    cid = case_id("priced", "q1", "text")
    meta = CaseMeta(
        case_id=cid,
        target="priced",
        query_id="q1",
        modality="text",
        category="Consultation",
        scenario="Medical Advice",
    )
    answer = TargetAnswer(
        case_id=cid, target="priced", query_id="q1", modality="text", status="skipped"
    )
    with RunStore(config.store_path()) as store:
        store.save_skipped(meta, answer)
    found = estimate_run(config)
    assert (found.already_finished, found.asked) == (1, 7)


def test_cli_estimate_prints_a_table_and_json_without_calling_a_model(
    server: ServerThread, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "run.yaml", _config(server.base_url, tmp_path))
    table = CliRunner().invoke(app, ["run", str(config), "--estimate", "--latency", "2"])
    assert table.exit_code == 0, table.output
    assert "no model called" in table.output
    assert "unpriced" in table.output and "openai requests_per_second" in table.output
    as_json = CliRunner().invoke(app, ["run", str(config), "--estimate", "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert (data["calls_best"], data["calls_worst"]) == (40, 88)
    assert server.server.count() == 0
    assert not (tmp_path / "run.sqlite").exists()
