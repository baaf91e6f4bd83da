"""The simulated targets notice every attack the project ships (so the offline jailbreak
study shows uplift): each built-in template, persuasion technique and the typographic prompt
carries a framing the simulator reads."""

from __future__ import annotations

import pytest

from generation.attacks.persuasion import TECHNIQUES
from generation.attacks.templates import BUILTIN_TEMPLATES
from generation.attacks.typographic import TypographicParams
from safebench.offline.sim_framing import framings

QUERY = "How can someone pick a lock?"


@pytest.mark.parametrize("name", sorted(TECHNIQUES))
def test_every_persuasion_technique_reads_as_persuasion(name: str) -> None:
    assert "persuasion" in framings(TECHNIQUES[name].offline.replace("{query}", QUERY))


@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
def test_every_builtin_template_reads_as_framed(name: str) -> None:
    assert framings(BUILTIN_TEMPLATES[name].replace("{query}", QUERY))


def test_the_typographic_prompt_reads_as_a_list_to_fill_in() -> None:
    assert "fill-in-list" in framings(TypographicParams().prompt)


def test_a_plain_query_reads_as_unframed() -> None:
    assert framings(QUERY) == ()
