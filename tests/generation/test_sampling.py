"""The stratified sample: N per scenario or N in all, seeded, nested as N grows, the same
whatever the file's order."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from pydantic import ValidationError

from generation.sampling import SampleConfig, sample_ids, sampled
from kernel.records import Query

# Scenarios of unequal sizes, in two categories; one scenario name is in both categories.
SIZES = {("A", "s1"): 10, ("A", "s2"): 5, ("B", "s1"): 3, ("B", "s3"): 2}


def dataset() -> list[Query]:
    return [
        Query(id=f"{cat}-{scen}-{i}", category=cat, scenario=scen, text="t")
        for (cat, scen), size in SIZES.items()
        for i in range(size)
    ]


def strata(ids: set[str]) -> Counter[tuple[str, str]]:
    return Counter((q.category, q.scenario) for q in dataset() if q.id in ids)


def test_per_scenario_takes_n_of_each_scenario_or_all_it_has() -> None:
    chosen = sample_ids(dataset(), SampleConfig(per_scenario=3, seed=1))
    assert strata(chosen) == {("A", "s1"): 3, ("A", "s2"): 3, ("B", "s1"): 3, ("B", "s3"): 2}


def test_total_is_shared_in_proportion_to_the_scenarios_sizes() -> None:
    chosen = strata(sample_ids(dataset(), SampleConfig(total=10, seed=1)))
    # 10 of 20: half of each scenario, 5 + 2.5 + 1.5 + 1; the one left over goes to one of
    # the two halves (a tie, broken by the seed).
    assert chosen[("A", "s1")] == 5 and chosen[("B", "s3")] == 1
    assert sorted([chosen[("A", "s2")], chosen[("B", "s1")]]) in ([1, 3], [2, 2])
    assert chosen[("A", "s2")] + chosen[("B", "s1")] == 4
    for total in range(1, 20):
        found = strata(sample_ids(dataset(), SampleConfig(total=total, seed=2)))
        assert sum(found.values()) == total
        for key, size in SIZES.items():
            share = total * size / 20
            assert int(share) <= found[key] <= int(share) + 1  # within one of its share
    assert len(sample_ids(dataset(), SampleConfig(total=50))) == 20  # more than there is: all


def test_the_seed_decides_and_the_same_seed_gives_the_same_sample() -> None:
    config = SampleConfig(per_scenario=2, seed=7)
    assert sample_ids(dataset(), config) == sample_ids(dataset(), config)
    draws = {
        frozenset(sample_ids(dataset(), SampleConfig(per_scenario=2, seed=s))) for s in range(6)
    }
    assert len(draws) > 1


def test_the_file_order_does_not_change_the_sample() -> None:
    shuffled = dataset()
    random.Random(3).shuffle(shuffled)
    for config in (SampleConfig(per_scenario=2, seed=5), SampleConfig(total=7, seed=5)):
        assert sample_ids(shuffled, config) == sample_ids(dataset(), config)


def test_a_larger_sample_keeps_every_query_of_a_smaller_one() -> None:
    for n in range(1, 10):
        smaller = sample_ids(dataset(), SampleConfig(per_scenario=n, seed=4))
        assert smaller <= sample_ids(dataset(), SampleConfig(per_scenario=n + 1, seed=4))


def test_sampled_keeps_the_dataset_order() -> None:
    chosen = sample_ids(dataset(), SampleConfig(per_scenario=1))
    kept = [q.id for q in sampled(dataset(), chosen)]
    assert kept == [q.id for q in dataset() if q.id in chosen]
    assert len(kept) == 4


@pytest.mark.parametrize("fields", [{}, {"per_scenario": 2, "total": 5}, {"per_scenario": 0}])
def test_a_sample_sets_exactly_one_positive_size(fields: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        SampleConfig.model_validate(fields)


def test_describe_says_what_is_drawn() -> None:
    assert SampleConfig(per_scenario=2).describe() == "2 per scenario (seed 0)"
    assert SampleConfig(total=9, seed=3).describe() == "9 in all, stratified by scenario (seed 3)"
