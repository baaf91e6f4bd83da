"""Every study spec under examples/studies loads, with its base config and its targets (a
second ``targets`` field once replaced the spec's own and went unnoticed: nothing loaded
the examples)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kernel.errors import ConfigError
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


def _commented_entries(path: Path) -> list[str]:
    """The list entries a spec's comments show, one per line (``#   - {…}``), leaving out
    those with a placeholder (``...``)."""
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"^#\s+- (\{.*\})\s*$", text, re.MULTILINE)
    return [entry for entry in found if "..." not in entry]


def test_what_the_comments_show_is_accepted(tmp_path: Path) -> None:
    # examples/studies/jailbreak.yaml's comment showed `model: openai/gpt-4o-mini` for the
    # persuasion attack, which its params refuse (a model entry, as a juror's, is wanted).
    # Each entry a comment shows goes where it says (an attack into axes.attack, a model
    # into targets) in a copy of the spec, which must then load.
    from generation.attacks.base import parse_params

    shown = [(path, entry) for path in EXAMPLES for entry in _commented_entries(path)]
    assert any(path.name == "jailbreak.yaml" for path, _ in shown)
    for path, raw in shown:
        entry = yaml.safe_load(raw)
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "params" in entry:  # an attack
            parse_params(entry["name"], entry["params"])  # ConfigError on what it refuses
            spec["axes"]["attack"].append(entry)
        else:  # a target
            spec["targets"] = [entry]
            spec.pop("pairs", None)
            spec.pop("families", None)
        spec["base"] = str((path.parent / spec["base"]).resolve())
        copy = tmp_path / path.name
        copy.write_text(yaml.safe_dump(spec), encoding="utf-8")
        assert base_config(load_study(copy)).targets, raw


def test_a_copied_spec_names_where_its_relative_base_led(tmp_path: Path) -> None:
    spec = next(p for p in EXAMPLES if p.name == "jailbreak.yaml")
    copied = tmp_path / "mine.yaml"
    copied.write_text(spec.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_study(copied)
    message = str(raised.value)
    assert str((tmp_path.parent / "offline.yaml").resolve()) in message, message
    assert "relative to the spec file's folder" in message and str(tmp_path.resolve()) in message
