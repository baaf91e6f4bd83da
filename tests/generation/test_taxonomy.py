"""The taxonomy model, its YAML form and the paper's taxonomy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generation.taxonomy import (
    PAPER_TAXONOMY,
    Category,
    Scenario,
    Taxonomy,
    dump_taxonomy,
    load_taxonomy,
)
from kernel.errors import ConfigError


def test_paper_taxonomy_has_8_categories_and_23_scenarios() -> None:
    assert len(PAPER_TAXONOMY.categories) == 8
    pairs = list(PAPER_TAXONOMY.scenarios())
    assert len(pairs) == 23
    assert len({scenario.name for _, scenario in pairs}) == 23
    assert PAPER_TAXONOMY.category_of("Malware Generation") == "Cybersecurity"
    assert PAPER_TAXONOMY.category_of("Bias") == "Inappropriate Opinions"
    assert PAPER_TAXONOMY.category_of("Child Abuse") == "Illegal & Criminal Behavior"


def test_category_of_unknown_scenario_raises() -> None:
    with pytest.raises(KeyError, match="Nope"):
        PAPER_TAXONOMY.category_of("Nope")


def test_yaml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    dump_taxonomy(PAPER_TAXONOMY, path)
    assert load_taxonomy(path) == PAPER_TAXONOMY


def test_bad_field_names_file_and_field(tmp_path: Path) -> None:
    data = PAPER_TAXONOMY.model_dump(mode="json")
    del data["categories"][2]["scenarios"][1]["description"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    message = str(info.value)
    assert str(path) in message
    assert "categories.2.scenarios.1.description" in message


def test_extra_field_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text(
        "categories:\n"
        "  - name: A\n    description: a\n    colour: red\n"
        "    scenarios: [{name: S, description: s}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"categories\.0\.colour"):
        load_taxonomy(path)


def test_invalid_yaml_and_non_mapping_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("categories: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_taxonomy(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"list\.yaml"):
        load_taxonomy(listed)
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_taxonomy(tmp_path / "missing.yaml")


def test_duplicate_scenario_names_are_rejected() -> None:
    scenario = Scenario(name="S", description="s")
    with pytest.raises(ValueError, match="appears twice"):
        Taxonomy(
            categories=[
                Category(name="A", description="a", scenarios=[scenario]),
                Category(name="B", description="b", scenarios=[scenario]),
            ]
        )
