"""Query writing and scoring over real HTTP with scripted judges, and the selection rule."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.gateway import Gateway, GatewaySettings
from generation.dataset import iter_queries
from generation.judges_config import JudgesConfig
from generation.selection import diversity, select
from generation.taxonomy import Category, Scenario, Taxonomy
from generation.writing import REPORT_FILE, generate_queries, write_generated
from safebench.offline.wire import ChatRequest
from tests.support.sim_server import SimServer
from transcripts.store import RunStore


def bag_of_words(texts: Sequence[str]) -> np.ndarray:
    """A transparent stand-in for MiniLM: hashed bag of words, unit length. Texts with the
    same words (any order or case) have cosine 1."""
    vectors = np.zeros((len(texts), 64))
    for i, text in enumerate(texts):
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            vectors[i, hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
        vectors[i] /= np.linalg.norm(vectors[i]) or 1.0
    return vectors


def test_select_keeps_the_best_distinct_candidates() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    scores = [5.0, 7.0, 8.0, None, 1.0]
    choices = select(scores, vectors, keep=1, dedup_similarity=0.95, min_score=2.0)
    assert [c.status for c in choices] == ["duplicate", "surplus", "kept", "unscored", "duplicate"]
    assert choices[0].duplicate_of == 2 and choices[0].similarity == 1.0
    # Which duplicate is removed does not depend on how many are kept.
    wide = select(scores, vectors, keep=5, dedup_similarity=0.95, min_score=2.0)
    assert [c.status for c in wide] == ["duplicate", "kept", "kept", "unscored", "duplicate"]
    low = select([5.0, 1.0], vectors[:2], keep=2, dedup_similarity=0.95, min_score=2.0)
    assert [c.status for c in low] == ["kept", "below_min"]


def test_diversity_is_the_mean_pairwise_cosine_distance() -> None:
    assert diversity(np.array([[1.0, 0.0]])) is None
    assert diversity(np.array([[1.0, 0.0], [1.0, 0.0]])) == 0.0
    three = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert diversity(three) == pytest.approx((1.0 + 0.0 + 1.0) / 3)


# --------------------------------------------------------------------------- over HTTP

# What each writer writes, by batch style order: "<text> h<harm> f<feasibility>". ann's
# second candidate has the same words as ben's first: a near-duplicate.
WRITES = {
    "ann": ["ann asks to sabotage widgets quietly h6 f5", "bob widget sabotage plan h9 f1"],
    "ben": ["plan sabotage widget bob h9 f1", "ben wants widget sabotage at night h3 f9"],
}
TASK = re.compile(r"^Task: ([a-z-]+)$", re.MULTILINE)


def judge_of(request: ChatRequest) -> str:
    found = re.search(r"You are ([\w.-]+),", request.system_text())
    assert found
    return found.group(1)


def task_text(request: ChatRequest) -> str:
    return next(t for t in reversed(request.texts("user")) if TASK.search(t))


def responder(name: str) -> Any:
    def respond(request: ChatRequest) -> str:
        prompt = task_text(request)
        task = TASK.search(prompt).group(1)  # type: ignore[union-attr]
        if task == "write-queries":
            styles = re.search(r"^Styles: (.+)$", prompt, re.M).group(1).split(", ")  # type: ignore[union-attr]
            texts = WRITES[name]
            return json.dumps(
                {"queries": [{"style": s, "text": t} for s, t in zip(styles, texts, strict=True)]}
            )
        candidates = re.findall(r"^(C\d+): (.+)$", prompt, re.M)
        reasked = len(request.texts("user")) > 1
        if name == "ann" and "ben wants" in prompt:
            return "Scores: all fine."  # never parses: a recorded failure
        if name == "cat" and "ben wants" in prompt and not reasked:
            candidates = candidates[:1]  # one candidate left out: re-asked
        scores = []
        for cid, text in candidates:
            harm, feas = re.search(r"h(\d) f(\d)", text).groups()  # type: ignore[union-attr]
            scores.append(
                {"id": cid, "feasibility": int(feas), "harmfulness": int(harm), "applicability": 5}
            )
        return json.dumps({"scores": scores})

    return respond


TAXONOMY = Taxonomy(
    categories=[
        Category(
            name="Widgets",
            description="Harm to widgets.",
            scenarios=[
                Scenario(name="Widget Sabotage", description="Requests to sabotage widgets.")
            ],
        )
    ]
)


async def test_writers_and_scorers_over_http_select_the_best_distinct_queries_and_resume(
    openai_server: SimServer, tmp_path: Path
) -> None:
    for name in ("ann", "ben", "cat"):
        openai_server.add_model(name, responder(name))
    config = JudgesConfig.model_validate(
        {
            "name": "writing-test",
            "judges": [
                {
                    "name": n,
                    "model": f"openai/{n}",
                    "api_base": openai_server.base_url,
                    "api_key": "sk-test",
                }
                for n in ("ann", "ben", "cat")
            ],
            "candidates_per_slot": 2,
            "queries_per_call": 2,
            "scorers_per_query": 2,
            "score_weights": {"feasibility": 1, "harmfulness": 2, "applicability": 0},
            "dedup_similarity": 0.95,
            "max_reasks": 1,
            "gateway": GatewaySettings(max_retries=0, timeout_s=60).model_dump(),
        }
    )

    async def generate() -> Any:
        with RunStore(tmp_path / "gen.sqlite") as store:
            gateway = Gateway(config.gateway, cache=store)
            try:
                return await generate_queries(
                    config, gateway, TAXONOMY, per_scenario=2, embed=bag_of_words
                )
            finally:
                await gateway.aclose()

    queries, report = await generate()
    # Two batches of two: ann writes batch 0 (scored by ben, cat), ben batch 1 (cat, ann).
    for entry in openai_server.requests:
        assert entry.request is not None
        if "Task: score-queries" in task_text(entry.request):
            writer = "ann" if "ann asks" in task_text(entry.request) else "ben"
            assert judge_of(entry.request) != writer, "a judge never scores its own queries"
    scenario = report.scenarios[0]
    items = {(c.writer, c.index): c for c in scenario.items}
    assert [(f.stage, f.judge, f.batch, f.attempts) for f in scenario.failures] == [
        ("score", "ann", 1, 2)
    ]
    assert [s.judge for s in items[("ben", 1)].scores] == ["cat"]  # re-asked, then complete
    # Weighted mean (f + 2h) / 3: ann#1 (h6 f5) -> 5.667, ann#2 (h9 f1) -> 6.333,
    # ben#1 (h9 f1) -> 6.333 but a duplicate of ann#2, ben#2 (h3 f9) -> 5.0.
    assert items[("ann", 0)].weighted == pytest.approx(5.6667, abs=1e-3)
    assert items[("ben", 1)].weighted == pytest.approx(5.0)
    assert items[("ben", 0)].status == "duplicate"
    assert items[("ben", 0)].duplicate_of == "batch 0 #2"
    assert [c.status for c in scenario.items] == ["kept", "kept", "duplicate", "surplus"]
    assert [(q.id, q.text) for q in queries] == [
        ("widget-sabotage-1", WRITES["ann"][1]),
        ("widget-sabotage-2", WRITES["ann"][0]),
    ]
    assert {q.source for q in queries} == {"generated:writing-test"}
    assert scenario.duplicates == 1 and scenario.kept == 2
    assert scenario.diversity is not None and 0 < scenario.diversity <= 1
    write_generated(tmp_path / "ds", queries, report)
    assert [q.id for q in iter_queries(tmp_path / "ds")] == [
        "widget-sabotage-1",
        "widget-sabotage-2",
    ]
    stored = json.loads((tmp_path / "ds" / REPORT_FILE).read_text())
    assert stored["scenarios"][0]["diversity"] == scenario.diversity

    before = len(openai_server.requests)
    again, report_again = await generate()
    assert len(openai_server.requests) == before, "a rerun asks no judge again"
    assert report_again.model_calls == 0 and report_again.cached_calls > 0
    assert again == queries
