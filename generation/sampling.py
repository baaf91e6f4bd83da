"""A seeded, stratified sample of a dataset's queries: N per risk scenario, or N in all.

``--limit N`` takes the first N queries, which in a dataset sorted by category covers one or
two categories only. A sample covers every scenario instead. Each query's place in its
scenario is the hash of (seed, query id), never its position in the file nor the other
queries, so a sample is the same in every process (workers draw it independently), a
larger N keeps every query a smaller one took, and adding queries to a scenario changes
only that scenario's draw.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kernel.records import Query


class SampleConfig(BaseModel):
    """Which queries a run asks: ``per_scenario`` of each risk scenario, or ``total`` in all
    (shared among the scenarios in proportion to their sizes), drawn with ``seed``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_scenario: int | None = Field(None, ge=1)
    """Queries drawn from each (category, scenario); a smaller scenario gives all it has."""
    total: int | None = Field(None, ge=1)
    """Queries drawn in all, each scenario's share proportional to its size (largest
    remainders first; a tie goes by the seed)."""
    seed: int = 0
    """Another seed draws another sample; the same seed, the same one."""

    @model_validator(mode="after")
    def _one_size(self) -> SampleConfig:
        if (self.per_scenario is None) == (self.total is None):
            raise ValueError("a sample sets exactly one of per_scenario or total")
        return self

    def describe(self) -> str:
        """E.g. ``2 queries per scenario (seed 0)``."""
        if self.per_scenario is not None:
            return f"{self.per_scenario} per scenario (seed {self.seed})"
        return f"{self.total} in all, stratified by scenario (seed {self.seed})"


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()


def sample_ids(queries: Iterable[Query], sample: SampleConfig) -> set[str]:
    """The ids of the queries ``sample`` draws from ``queries`` (read once; only ids and
    scenarios are kept, so memory grows with the id count alone)."""
    strata: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for query in queries:
        strata[(query.category, query.scenario)].append((_rank(sample.seed, query.id), query.id))
    for members in strata.values():
        members.sort()
    quotas = _quotas(strata, sample)
    return {qid for key, members in strata.items() for _, qid in members[: quotas[key]]}


def _quotas(
    strata: dict[tuple[str, str], list[tuple[str, str]]], sample: SampleConfig
) -> dict[tuple[str, str], int]:
    if sample.per_scenario is not None:
        return {key: sample.per_scenario for key in strata}
    assert sample.total is not None
    size = sum(len(members) for members in strata.values())
    if sample.total >= size:
        return {key: len(members) for key, members in strata.items()}
    # Hamilton's apportionment: each scenario its whole share, then one more to the largest
    # remainders. Remainders are compared exactly (integers), ties by the seeded hash.
    shares = {key: sample.total * len(members) for key, members in strata.items()}
    quotas = {key: share // size for key, share in shares.items()}
    left = sample.total - sum(quotas.values())
    order = sorted(strata, key=lambda k: (-(shares[k] % size), _rank(sample.seed, "\0".join(k))))
    for key in order[:left]:
        quotas[key] += 1
    return quotas


def sampled(queries: Iterable[Query], ids: set[str]) -> Iterator[Query]:
    """The queries whose id is in ``ids``, in the dataset's order."""
    return (query for query in queries if query.id in ids)
