"""A juror field added later changes no stored jury's name or identity while it holds its
default: stores written before ``probability`` existed resume, and their rejudge and
calibration stores keep their names. The digests below are what the code before the field
(51da0b3) computed for these juries."""

from __future__ import annotations

from pathlib import Path

import yaml

from jury.config import JuryConfig, jury_hash
from safebench.run.fingerprint import jury_identity

REPO = Path(__file__).resolve().parents[2]
BEFORE = {
    "examples/juries/offline-default.yaml": "a5d6fa5a",
    "examples/juries/published-judges.yaml": "7b4d1b3b",
}


def _jury(path: str, **seat: str) -> JuryConfig:
    raw = yaml.safe_load((REPO / path).read_text(encoding="utf-8"))
    raw["jurors"] = [
        {k: v for k, v in juror.items() if k != "probability"} | seat for juror in raw["jurors"]
    ]
    return JuryConfig.model_validate(raw)


def test_a_default_probability_keeps_the_digest_stores_were_named_by() -> None:
    for path, digest in BEFORE.items():
        jury = _jury(path)
        assert jury_hash(jury) == digest, path
        assert all("probability" not in j for j in jury_identity(jury)["jurors"]), path


def test_a_chosen_probability_is_part_of_the_jury() -> None:
    path = "examples/juries/published-judges.yaml"
    plain = _jury(path)
    chosen = plain.model_copy(deep=True)
    chosen.jurors[1].probability = "logprobs"
    assert jury_hash(chosen) != jury_hash(plain)
    assert jury_identity(chosen)["jurors"][1]["probability"] == "logprobs"
