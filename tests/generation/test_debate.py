"""The taxonomy debate: the pure merge-and-vote on scripted proposals, and the debate itself
driven over real HTTP by scripted judges on the ``openai_server`` fixture."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.gateway import Gateway, GatewaySettings
from generation.debate import run_debate
from generation.debate_merge import apply_merges, merge_proposals, normalise_name, tally_votes
from generation.debate_records import (
    Ballot,
    BallotEvent,
    BallotItem,
    Critique,
    CritiqueEvent,
    MergeEvent,
    MergeSuggestion,
    Proposal,
    ProposalEvent,
)
from generation.judges_config import JudgesConfig
from generation.taxonomy import Category, Scenario, ScenarioVotes, Taxonomy
from safebench.offline.wire import ChatRequest
from tests.support.sim_server import SimServer
from transcripts.store import RunStore

FAST = GatewaySettings(max_retries=0, timeout_s=60.0)


def proposal(*categories: tuple[str, list[tuple[str, str]]]) -> Proposal:
    return Proposal.model_validate(
        {
            "categories": [
                {
                    "name": name,
                    "description": f"About {name.lower()}.",
                    "scenarios": [{"name": n, "description": d} for n, d in scenarios],
                }
                for name, scenarios in categories
            ]
        }
    )


MALWARE = ("Malware Generation", "Requests to write malicious code.")
PHISHING = ("Phishing Kits", "Requests for phishing pages that steal logins.")
CREDENTIAL = ("Credential Theft Pages", "Requests for fake login pages that harvest passwords.")
DOXXING = ("Doxxing", "Requests to expose where a private person lives.")
TRIVIA = ("Trivia Cheating", "Requests to cheat at pub quizzes.")

# Three judges. A and B name malware the same way up to word order and case; C calls the
# credential-phishing scenario by another name (merged by similarity); C also adds trivia.
PROPOSALS = [
    ("a", proposal(("Cybersecurity", [MALWARE, PHISHING]), ("Privacy", [DOXXING]))),
    ("b", proposal(("Cyber security", [("generation of MALWARE", MALWARE[1]), PHISHING]))),
    ("c", proposal(("Cybersecurity", [CREDENTIAL]), ("Privacy", [DOXXING, TRIVIA]))),
]


def keyword_embed(texts: Sequence[str]) -> np.ndarray:
    """A transparent stand-in for MiniLM: texts about phishing or fake logins point one way,
    everything else gets its own direction."""
    vectors = np.zeros((len(texts), len(texts) + 1))
    for i, text in enumerate(texts):
        if re.search(r"phishing|login", text, re.IGNORECASE):
            vectors[i, 0] = 1.0
        else:
            vectors[i, i + 1] = 1.0
    return vectors


def test_normalised_names_ignore_case_order_plurals_and_stop_words() -> None:
    assert normalise_name("Malware Generation") == normalise_name("generation of MALWARE")
    assert normalise_name("Fraudulent Activities") == normalise_name("fraudulent activity")
    assert normalise_name("Illegal & Criminal Behavior") == normalise_name(
        "Illegal and criminal behaviors"
    )
    assert normalise_name("Physical Harm") != normalise_name("Psychological Harm")


def test_merge_and_vote_on_scripted_proposals_give_the_expected_taxonomy() -> None:
    merged, merges = merge_proposals(PROPOSALS, embed=keyword_embed, threshold=0.8)
    assert [(s.id, s.name, s.supporters) for s in merged] == [
        ("S1", "Malware Generation", ["a", "b"]),
        ("S2", "Phishing Kits", ["a", "b", "c"]),
        ("S3", "Doxxing", ["a", "c"]),
        ("S4", "Trivia Cheating", ["c"]),
    ]
    assert merged[0].merged_from == ["generation of MALWARE"]
    assert merged[1].merged_from == ["Credential Theft Pages"]
    assert {m.into: m.reason for m in merges} == {
        "S1 Malware Generation": "same name",
        "S2 Phishing Kits": "similar descriptions (cosine 1.00)",
    }
    # A critique round: b and c both see that trivia cheating is doxxing's odd cousin (it is
    # not, but two judges agree, and the rule is support, not truth); a's lone merge of S1
    # into S2 lacks support.
    critiques = [
        ("a", Critique(merges=[MergeSuggestion(keep="S2", absorb=["S1"])])),
        ("b", Critique(merges=[MergeSuggestion(keep="S3", absorb=["S4", "S9"])])),
        ("c", Critique(merges=[MergeSuggestion(keep="S3", absorb=["S4", "S3"])])),
    ]
    merged, merges = apply_merges(merged, critiques, min_support=2, stage="critique-1")
    assert [s.id for s in merged] == ["S1", "S2", "S3"]
    assert merged[2].merged_from == ["Trivia Cheating"]
    assert [(m.stage, m.into, m.merged, m.reason) for m in merges] == [
        ("critique-1", "S3 Doxxing", ["Trivia Cheating"], "proposed by b, c")
    ]

    def ballot(**votes: bool) -> Ballot:
        return Ballot(votes=[BallotItem(id=k, keep=v) for k, v in votes.items()])

    ballots = [
        ("a", ballot(S1=True, S2=True, S3=False)),
        ("b", ballot(S1=True, S2=False, S3=False)),
        ("c", None),  # c's ballot never parsed: an abstention on everything
    ]
    taxonomy, outcomes = tally_votes(merged, ballots, threshold=0.5)
    assert taxonomy == Taxonomy(
        categories=[
            Category(
                name="Cybersecurity",
                description="About cybersecurity.",
                scenarios=[
                    Scenario(
                        name="Malware Generation",
                        description="Requests to write malicious code.",
                        supporters=["a", "b"],
                        votes=ScenarioVotes(keep=2, drop=0, abstain=1),
                        merged_from=["generation of MALWARE"],
                    ),
                    Scenario(
                        name="Phishing Kits",
                        description="Requests for phishing pages that steal logins.",
                        supporters=["a", "b", "c"],
                        votes=ScenarioVotes(keep=1, drop=1, abstain=1),
                        merged_from=["Credential Theft Pages"],
                    ),
                ],
            )
        ]
    )
    assert [(o.scenario, o.kept) for o in outcomes] == [
        ("Malware Generation", True),
        ("Phishing Kits", True),
        ("Doxxing", False),
    ]
    # A stricter threshold drops the split scenario; nothing kept gives no taxonomy.
    strict, _ = tally_votes(merged, ballots, threshold=0.6)
    assert strict is not None
    assert [s.name for _, s in strict.scenarios()] == ["Malware Generation"]
    assert tally_votes(merged, [("a", ballot(S1=False))], threshold=0.5)[0] is None


def test_without_embeddings_only_equal_names_merge() -> None:
    merged, _ = merge_proposals(PROPOSALS, embed=None)
    assert [s.name for s in merged] == [
        "Malware Generation",
        "Phishing Kits",
        "Doxxing",
        "Credential Theft Pages",
        "Trivia Cheating",
    ]


# --------------------------------------------------------------------------- over HTTP


def judge_of(request: ChatRequest) -> str:
    found = re.search(r"You are ([\w.-]+),", request.system_text())
    assert found, "the judge's system message names it"
    return found.group(1)


def task_of(request: ChatRequest) -> str:
    for text in reversed(request.texts("user")):
        found = re.search(r"^Task: ([a-z-]+)$", text, re.MULTILINE)
        if found:
            return found.group(1)
    raise AssertionError("no task in the request")


def listed_ids(request: ChatRequest) -> dict[str, str]:
    """Scenario name -> id, from the listing in the latest task prompt."""
    text = next(t for t in reversed(request.texts("user")) if t.startswith("Task:"))
    return {
        name.strip(): sid for sid, name in re.findall(r"^(S\d+) \| [^|]+ \| ([^|]+) \|", text, re.M)
    }


def scripted_judge(
    plans: dict[str, Callable[[ChatRequest], Any]],
) -> Callable[[ChatRequest], str]:
    def respond(request: ChatRequest) -> str:
        reply = plans[task_of(request)](request)
        return reply if isinstance(reply, str) else json.dumps(reply)

    return respond


def config_for(server: SimServer, names: list[str], **extra: Any) -> JudgesConfig:
    return JudgesConfig.model_validate(
        {
            "name": "debate-test",
            "judges": [
                {"name": n, "model": f"openai/{n}", "api_base": server.base_url, "api_key": "sk-x"}
                for n in names
            ],
            "gateway": FAST.model_dump(),
            **extra,
        }
    )


async def test_debate_over_http_reasks_a_malformed_reply_records_failures_and_resumes(
    openai_server: SimServer, tmp_path: Path
) -> None:
    garbled: list[int] = []

    def first_garbled(request: ChatRequest) -> Any:
        # ada's first proposal is prose; the re-ask (with the error) gets JSON.
        if len(request.texts("user")) == 1:
            garbled.append(1)
            return "Here are my thoughts: malware matters a lot."
        return json.loads(PROPOSALS[0][1].model_dump_json())

    def keep_all(request: ChatRequest) -> Any:
        return {"votes": [{"id": i, "keep": True} for i in listed_ids(request).values()]}

    def drop_trivia(request: ChatRequest) -> Any:
        ids = listed_ids(request)
        return {"votes": [{"id": i, "keep": n != "Trivia Cheating"} for n, i in ids.items()]}

    def merge_phishing(request: ChatRequest) -> Any:
        ids = listed_ids(request)
        return {
            "merges": [{"keep": ids["Phishing Kits"], "absorb": [ids["Credential Theft Pages"]]}]
        }

    openai_server.add_model(
        "ada",
        scripted_judge(
            {
                "propose-taxonomy": first_garbled,
                "critique-taxonomy": merge_phishing,
                "vote-taxonomy": drop_trivia,
            }
        ),
    )
    openai_server.add_model(
        "bob",
        scripted_judge(
            {
                "propose-taxonomy": lambda r: json.loads(PROPOSALS[1][1].model_dump_json()),
                "critique-taxonomy": lambda r: {"merges": []},
                "vote-taxonomy": drop_trivia,
            }
        ),
    )
    openai_server.add_model(
        "cyd",
        scripted_judge(
            {
                "propose-taxonomy": lambda r: json.loads(PROPOSALS[2][1].model_dump_json()),
                "critique-taxonomy": lambda r: {"merges": [{"keep": "S1"}]},  # no absorb: invalid
                "vote-taxonomy": keep_all,
            }
        ),
    )
    config = config_for(openai_server, ["ada", "bob", "cyd"], max_reasks=1)

    async def debate() -> Any:
        with RunStore(tmp_path / "debate.sqlite") as store:
            gateway = Gateway(config.gateway, cache=store)
            try:
                return await run_debate(config, gateway, seed=None, embed=None), gateway.stats
            finally:
                await gateway.aclose()

    result, stats = await debate()
    events = result.transcript.events
    proposals = [e for e in events if isinstance(e, ProposalEvent)]
    assert [(e.judge, e.attempts, e.error) for e in proposals] == [
        ("ada", 2, None),
        ("bob", 1, None),
        ("cyd", 1, None),
    ]
    reask = next(
        r.request
        for r in openai_server.requests
        if r.model == "ada" and r.request and len(r.request.texts("user")) == 2
    )
    assert reask is not None
    assert "no JSON object" in reask.texts("user")[-1]
    critiques = [e for e in events if isinstance(e, CritiqueEvent)]
    cyd = next(e for e in critiques if e.judge == "cyd")
    assert cyd.critique is None and cyd.attempts == 2 and "absorb" in (cyd.error or "")
    merges = [e for e in events if isinstance(e, MergeEvent)]
    assert [(m.stage, m.merged) for m in merges] == [
        ("proposals", ["generation of MALWARE"]),
        ("critique-1", ["Credential Theft Pages"]),
    ]
    assert sum(isinstance(e, BallotEvent) for e in events) == 3
    assert [s.name for _, s in result.taxonomy.scenarios()] == [
        "Malware Generation",
        "Phishing Kits",
        "Doxxing",
    ]
    assert result.failures == 1  # cyd's critique
    assert [o.scenario for o in result.dropped] == ["Trivia Cheating"]
    assert stats.calls == len(openai_server.requests) == 3 + 1 + 3 + 1 + 3

    # A rerun over the same store replays every call: no request reaches the server.
    before = len(openai_server.requests)
    again, stats = await debate()
    assert len(openai_server.requests) == before
    assert stats.calls == 0 and stats.cached == 11
    assert again.taxonomy == result.taxonomy
    assert again.transcript == result.transcript


async def test_a_proposal_that_never_parses_is_recorded_and_skipped(
    openai_server: SimServer, tmp_path: Path
) -> None:
    bad = {"categories": [{"name": "X", "description": "no scenarios here", "scenarios": []}]}
    openai_server.add_model(
        "ada",
        scripted_judge(
            {
                "propose-taxonomy": lambda r: bad,
                "vote-taxonomy": lambda r: {
                    "votes": [{"id": i, "keep": True} for i in listed_ids(r).values()]
                },
            }
        ),
    )
    openai_server.add_model(
        "bob",
        scripted_judge(
            {
                "propose-taxonomy": lambda r: json.loads(PROPOSALS[0][1].model_dump_json()),
                "vote-taxonomy": lambda r: "I keep them all.",
            }
        ),
    )
    config = config_for(openai_server, ["ada", "bob"], max_reasks=1, debate_rounds=0)
    gateway = Gateway(config.gateway)
    result = await run_debate(config, gateway, seed=None, embed=None)
    await gateway.aclose()
    ada = next(e for e in result.transcript.events if isinstance(e, ProposalEvent))
    assert ada.proposal is None and ada.attempts == 2
    assert "categories.0.scenarios" in (ada.error or "")
    # Only bob's proposal counts; bob's ballot is an abstention (recorded), ada keeps all.
    assert [s.supporters for _, s in result.taxonomy.scenarios()] == [["bob"]] * 3
    assert {s.votes.abstain for _, s in result.taxonomy.scenarios() if s.votes} == {1}
    assert result.failures == 2
    assert len(openai_server.requests) == 2 + 1 + 2 + 1
