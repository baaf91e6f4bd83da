"""Every study spec under examples/studies loads, with its base config and its targets (a
second ``targets`` field once replaced the spec's own and went unnoticed: nothing loaded
the examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from safebench.studies.cells import base_config
from safebench.studies.spec import load_study

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples" / "studies").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_study_spec_loads_with_its_base(path: Path) -> None:
    spec = load_study(path)
    base = base_config(spec)
    assert base.targets and base.jury.jurors
    if spec.targets is not None:
        assert [t.model for t in base.targets] == [t["model"] for t in spec.targets]
