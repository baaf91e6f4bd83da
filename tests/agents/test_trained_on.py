"""What the shipped offline jurors record of their training data, read without loading them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jury.labels import load_gptfuzz, load_harmbench
from kernel.errors import ConfigError
from safebench.offline.embedding_juror import HEAD_PATH
from safebench.offline.harm_judge import DELTA_PATH
from safebench.offline.train_harm_judge import as_items, split_by_behaviour
from safebench.offline.trained_on import (
    delta_pairs,
    head_pairs,
    pair_digest,
    trained_models,
    unrecorded_line,
)
from tests.support.shared_data import SHARED_DATA

DATA = SHARED_DATA
needs_data = pytest.mark.skipif(
    not (DATA / "gptfuzz").is_dir(), reason="../shared/data not present"
)


def digests(items: list[tuple[str, str, int]]) -> set[str]:
    return {pair_digest(q, a) for q, a, _ in items}


@needs_data
def test_the_shipped_harm_judge_records_exactly_what_it_trained_on() -> None:
    gptfuzz = as_items(load_gptfuzz(DATA / "gptfuzz" / "train.csv"))
    harmbench = as_items(load_harmbench(DATA / "harmbench" / "val_dev.json"))
    trained, held = split_by_behaviour(harmbench, seed=7)
    assert delta_pairs(DELTA_PATH) == digests(gptfuzz + trained)
    assert not digests(held) & delta_pairs(DELTA_PATH)


@needs_data
def test_the_shipped_embedding_head_records_gptfuzz_train() -> None:
    train = as_items(load_gptfuzz(DATA / "gptfuzz" / "train.csv"))
    evaluate = as_items(load_gptfuzz(DATA / "gptfuzz" / "evaluate.csv"))
    assert head_pairs(HEAD_PATH) == digests(train)
    assert not digests(evaluate) - digests(train) & head_pairs(HEAD_PATH)


def test_only_trained_models_are_named() -> None:
    found = trained_models(["safebench/pattern-juror", "safebench/harm-judge",
                            "safebench/embedding-juror", "openai/gpt-4o"])
    assert sorted(found) == ["safebench/embedding-juror", "safebench/harm-judge"]


def test_an_unreadable_delta_is_a_config_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "delta.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match=r"delta\.safetensors: cannot read what the harm judge"):
        delta_pairs(bad)
    with pytest.raises(ConfigError, match=r"head\.json: cannot read what the embedding juror"):
        head_pairs(tmp_path / "head.json")


def test_a_delta_from_before_the_record_is_unknown_not_clean(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    old = tmp_path / "old.safetensors"
    save_file({"head.bias": np.zeros(1, dtype="float32")}, str(old),
              metadata={"info": '{"seed": 7}'})
    assert delta_pairs(old) is None  # unknown, not "trained on nothing"
    assert "retrain it" in unrecorded_line(["safebench/harm-judge"])
