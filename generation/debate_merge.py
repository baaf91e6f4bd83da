"""The debate's arithmetic: proposals merged into scenarios, judges' merges applied, votes
tallied into a taxonomy.

Pure functions of the judges' parsed replies (tested on scripted proposals); the names
match by a normalised key, and with an embedder also by the cosine of name + description.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from generation.debate_records import (
    Ballot,
    Critique,
    MergeEvent,
    OutcomeEvent,
    Proposal,
)
from generation.selection import Embed
from generation.taxonomy import Category, Scenario, ScenarioVotes, Taxonomy

# ---------------------------------------------------------------- merging (pure)


class MergedScenario(BaseModel):
    """A scenario after merging: what the judges critique and vote on."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    description: str
    category: str
    category_description: str
    supporters: list[str]
    merged_from: list[str] = Field(default_factory=list)


@dataclass
class _Entry:
    judge: str
    category: str
    category_description: str
    name: str
    description: str


_STOPWORDS = frozenset({"a", "an", "and", "the", "of", "for", "to", "in", "on", "or", "with"})


def normalise_name(name: str) -> str:
    """A name's merge key: lower case, ``&`` as ``and``, no stop words or punctuation,
    plurals folded, words sorted (so ``Generation of Malware`` = ``Malware Generation``)."""
    words = re.findall(r"[a-z0-9]+", name.lower().replace("&", " and "))
    keys = []
    for word in words:
        if word in _STOPWORDS:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        keys.append(word)
    return " ".join(sorted(keys))


def _majority(values: Sequence[str]) -> str:
    """The most frequent value; ties go to the one seen first."""
    counts = Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


def merge_proposals(
    proposals: Sequence[tuple[str, Proposal]],
    *,
    embed: Embed | None = None,
    threshold: float = 0.8,
) -> tuple[list[MergedScenario], list[MergeEvent]]:
    """Merge the judges' proposals into one list of scenarios, ids ``S1``, ``S2``, ….

    Scenarios whose names are equal after ``normalise_name`` always merge; with ``embed``,
    a scenario whose "name: description" embedding has cosine >= ``threshold`` with an
    earlier group's joins the most similar such group. A merged scenario takes the name most
    judges used (ties: the first proposed) and the category most of its proposers put it in.
    """
    entries = [
        _Entry(judge, cat.name, cat.description, sc.name, sc.description)
        for judge, proposal in proposals
        for cat in proposal.categories
        for sc in cat.scenarios
    ]
    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        groups.setdefault(normalise_name(entry.name), []).append(entry)
    keys = list(groups)
    clusters: list[list[str]] = []
    reasons: dict[str, str] = {}
    if embed is not None and len(keys) > 1:
        texts = [f"{groups[k][0].name}: {groups[k][0].description}" for k in keys]
        vectors = embed(texts)
        heads: list[int] = []
        for i, key in enumerate(keys):
            best, best_sim = -1, threshold
            for c, head in enumerate(heads):
                sim = float(vectors[i] @ vectors[head])
                if sim >= best_sim and (best < 0 or sim > best_sim):
                    best, best_sim = c, sim
            if best < 0:
                heads.append(i)
                clusters.append([key])
            else:
                clusters[best].append(key)
                reasons[key] = f"similar descriptions (cosine {best_sim:.2f})"
    else:
        clusters = [[k] for k in keys]
    merged: list[MergedScenario] = []
    events: list[MergeEvent] = []
    # Category names are merged by their normalised names, across all judges.
    category_names: dict[str, _Entry] = {}
    for entry in entries:
        category_names.setdefault(normalise_name(entry.category), entry)
    for number, cluster in enumerate(clusters, start=1):
        members = [e for key in cluster for e in groups[key]]
        name_key = _majority([normalise_name(e.name) for e in members])
        chosen = next(e for e in members if normalise_name(e.name) == name_key)
        category_key = _majority([normalise_name(e.category) for e in members])
        category = category_names[category_key]
        others = _distinct([e.name for e in members if e.name != chosen.name])
        scenario = MergedScenario(
            id=f"S{number}",
            name=chosen.name,
            description=chosen.description,
            category=category.category,
            category_description=category.category_description,
            supporters=sorted({e.judge for e in members}),
            merged_from=others,
        )
        merged.append(scenario)
        if others:
            why = sorted({reasons[k] for k in cluster if k in reasons} or {"same name"})
            if any(normalise_name(o) == name_key for o in others):
                why = sorted({"same name", *why})
            events.append(
                MergeEvent(
                    stage="proposals",
                    into=f"{scenario.id} {scenario.name}",
                    merged=others,
                    reason="; ".join(why),
                )
            )
    return merged, events


def _distinct(names: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen


def apply_merges(
    scenarios: Sequence[MergedScenario],
    critiques: Sequence[tuple[str, Critique]],
    *,
    min_support: int = 1,
    stage: str = "critique",
) -> tuple[list[MergedScenario], list[MergeEvent]]:
    """Fold scenarios together where at least ``min_support`` judges proposed the merge.

    Unknown ids and self-merges are ignored; merges chain (A absorbs B, B absorbs C: A holds
    all three). Ids of the surviving scenarios do not change.
    """
    by_id = {s.id: s for s in scenarios}
    support: dict[tuple[str, str], set[str]] = {}
    for judge, critique in critiques:
        for merge in critique.merges:
            for absorbed in merge.absorb:
                if merge.keep in by_id and absorbed in by_id and absorbed != merge.keep:
                    support.setdefault((merge.keep, absorbed), set()).add(judge)
    parent = {s.id: s.id for s in scenarios}

    def root(sid: str) -> str:
        while parent[sid] != sid:
            sid = parent[sid]
        return sid

    def order(sid: str) -> int:
        return int(sid[1:])

    applied: list[tuple[str, str, list[str]]] = []
    for (keep, absorbed), judges in sorted(
        support.items(), key=lambda kv: (order(kv[0][0]), order(kv[0][1]))
    ):
        if len(judges) < min_support:
            continue
        a, b = root(keep), root(absorbed)
        if a == b:
            continue
        parent[b] = a
        applied.append((a, b, sorted(judges)))
    if not applied:
        return list(scenarios), []
    out: list[MergedScenario] = []
    events: list[MergeEvent] = []
    for scenario in scenarios:
        if root(scenario.id) != scenario.id:
            continue
        members = [s for s in scenarios if root(s.id) == scenario.id and s.id != scenario.id]
        if not members:
            out.append(scenario)
            continue
        names = _distinct(
            [*scenario.merged_from, *(n for m in members for n in [m.name, *m.merged_from])]
        )
        out.append(
            scenario.model_copy(
                update={
                    "supporters": sorted(
                        {*scenario.supporters, *(j for m in members for j in m.supporters)}
                    ),
                    "merged_from": [n for n in names if n != scenario.name],
                }
            )
        )
        judges = sorted({j for a, b, js in applied if root(b) == scenario.id for j in js})
        events.append(
            MergeEvent(
                stage=stage,
                into=f"{scenario.id} {scenario.name}",
                merged=[m.name for m in members],
                reason=f"proposed by {', '.join(judges)}",
            )
        )
    return out, events


def tally_votes(
    scenarios: Sequence[MergedScenario],
    ballots: Sequence[tuple[str, Ballot | None]],
    *,
    threshold: float,
) -> tuple[Taxonomy | None, list[OutcomeEvent]]:
    """Count the judges' votes; keep a scenario when keep / (keep + drop) >= threshold.

    A judge whose ballot is missing (or names a scenario twice: its first vote counts) is
    an abstention on the scenarios it did not vote on. Categories keep the order in which
    their first scenario was proposed; a category left with no scenario disappears.
    Returns None for the taxonomy when nothing was kept.
    """
    outcomes: list[OutcomeEvent] = []
    kept: list[tuple[MergedScenario, ScenarioVotes]] = []
    for scenario in scenarios:
        keep = drop = 0
        for _judge, ballot in ballots:
            if ballot is None:
                continue
            vote = next((v for v in ballot.votes if v.id == scenario.id), None)
            if vote is None:
                continue
            keep += vote.keep
            drop += not vote.keep
        votes = ScenarioVotes(keep=keep, drop=drop, abstain=len(ballots) - keep - drop)
        stays = keep + drop > 0 and keep / (keep + drop) >= threshold
        outcomes.append(
            OutcomeEvent(
                scenario=scenario.name,
                category=scenario.category,
                kept=stays,
                votes=votes,
                supporters=scenario.supporters,
            )
        )
        if stays:
            kept.append((scenario, votes))
    if not kept:
        return None, outcomes
    categories: dict[str, Category] = {}
    for scenario, votes in kept:
        item = Scenario(
            name=scenario.name,
            description=scenario.description,
            supporters=scenario.supporters,
            votes=votes,
            merged_from=scenario.merged_from or None,
        )
        if scenario.category in categories:
            categories[scenario.category].scenarios.append(item)
        else:
            categories[scenario.category] = Category(
                name=scenario.category,
                description=scenario.category_description,
                scenarios=[item],
            )
    return Taxonomy(categories=list(categories.values())), outcomes
