"""A run over a stratified sample: it asks exactly the sampled queries (in one process or
several), the sample is part of the run's identity, and the CLI says what was sampled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from generation.dataset import iter_queries
from generation.sampling import SampleConfig, sample_ids
from kernel.errors import ConfigChanged, ConfigError
from safebench.cli.app import app
from safebench.run.config import RunConfig, load_run_config
from safebench.run.pipeline import run_evaluation
from transcripts.store import RunStore


def offline(store: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": "sampled",
        "store": str(store),
        "modalities": ["text"],
        "targets": [{"model": "safebench/sim-leaky"}],
        "jury": {"jurors": [{"model": "safebench/pattern-juror"}], "rounds": 0},
        "concurrency": 4,
        **extra,
    }


def asked(store: Path) -> set[str]:
    with RunStore.open_readonly(store) as opened:
        return {meta.query_id for meta, _ in opened.judged()}


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_sampled_run_asks_exactly_the_sample(tmp_path: Path, workers: int) -> None:
    store = tmp_path / "run.sqlite"
    sample = {"total": 5, "seed": 11}
    config = RunConfig.model_validate(offline(store, sample=sample, workers=workers))
    summary = await run_evaluation(config)
    seed_root = store.parent / "datasets" / "seed"
    expected = sample_ids(iter_queries(seed_root), SampleConfig(**sample))
    assert len(expected) == 5
    assert asked(store) == expected
    assert summary.counts == {"judged": 5}
    # Five scenarios, not the file's first five queries (which share two scenarios).
    scenarios = {q.scenario for q in iter_queries(seed_root) if q.id in expected}
    assert len(scenarios) == 5


async def test_another_sample_is_another_run(tmp_path: Path) -> None:
    store = tmp_path / "run.sqlite"
    first = RunConfig.model_validate(offline(store, sample={"total": 3, "seed": 0}))
    await run_evaluation(first)
    other = RunConfig.model_validate(offline(store, sample={"total": 3, "seed": 1}))
    with pytest.raises(ConfigChanged, match=r"sample\.seed: 0 -> 1"):
        await run_evaluation(other)
    # The same sample resumes: nothing is asked again.
    again = await run_evaluation(first)
    assert again.model_calls == 0
    assert again.counts == {"judged": 3}


def test_sample_and_limit_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    raw = offline(tmp_path / "run.sqlite", limit=3, sample={"per_scenario": 1})
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="sample and limit"):
        load_run_config(path)


def write(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(offline(tmp_path / "run.sqlite", **extra)), encoding="utf-8")
    return path


def test_the_cli_samples_and_says_what_it_sampled(tmp_path: Path) -> None:
    config = write(tmp_path)
    args = ["run", str(config), "--sample-total", "3", "--seed", "2", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "queries: 3 of 69, a sample of 3 in all, stratified by scenario (seed 2)" in (
        " ".join(result.output.split())
    )
    seed_root = tmp_path / "datasets" / "seed"
    assert asked(tmp_path / "run.sqlite") == sample_ids(
        iter_queries(seed_root), SampleConfig(total=3, seed=2)
    )


def test_the_cli_says_when_only_the_first_queries_were_asked(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(write(tmp_path)), "--limit", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "queries: the first 2 of 69" in result.output


def test_a_seed_without_a_sample_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(write(tmp_path)), "--seed", "3"])
    assert result.exit_code == 2
    assert "--sample" in result.output
    assert not (tmp_path / "run.sqlite").exists()


async def test_an_attack_on_a_sampled_run_attacks_only_the_sample(tmp_path: Path) -> None:
    store = tmp_path / "run.sqlite"
    sample = {"total": 3, "seed": 4}
    attack = {"name": "template", "params": {"template": "research"}}
    config = RunConfig.model_validate(offline(store, sample=sample, attack=attack))
    summary = await run_evaluation(config)
    assert summary.counts == {"judged": 3}
    expected = sample_ids(iter_queries(tmp_path / "datasets" / "seed"), SampleConfig(**sample))
    (attacked,) = (tmp_path / "datasets" / "attacked").iterdir()
    made = list(iter_queries(attacked))
    assert {q.id for q in made} == expected == asked(store)  # no other query was attacked
    assert all(q.attack is not None for q in made)
