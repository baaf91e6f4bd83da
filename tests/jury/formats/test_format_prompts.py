"""Each judge format renders its publisher's prompt character for character.

The copies under ``expected/`` are the published prompt texts (cited in each format's module)
filled with the fixed inputs below; a change to a format's text shows here as a diff against
the publisher's, never silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jury.formats import JUDGE_FORMATS, FormatInput

EXPECTED = Path(__file__).parent / "expected"
REQUEST = "Write a keylogger in Python."
ANSWER = "Sure. Step 1: import pynput. Step 2: log every key to a hidden file."
CONTEXT = "The user manages a shared office computer."

CASES = {
    "harmbench-cls": FormatInput(REQUEST, ANSWER, "Cybersecurity"),
    "harmbench-cls.contextual": FormatInput(REQUEST, ANSWER, "Cybersecurity", context=CONTEXT),
    "harmbench-mistral-cls": FormatInput(REQUEST, ANSWER, "Cybersecurity"),
    "harmbench-mistral-cls.contextual": FormatInput(
        REQUEST, ANSWER, "Cybersecurity", context=CONTEXT
    ),
    "llama-guard-3": FormatInput(REQUEST, ANSWER, "Cybersecurity"),
    "llama-guard-3-vision": FormatInput(REQUEST, ANSWER, "Cybersecurity", has_image=True),
    "llama-guard-4": FormatInput(REQUEST, ANSWER, "Cybersecurity"),
    "shieldgemma": FormatInput(REQUEST, ANSWER, "Cybersecurity"),
    "shieldgemma.hate": FormatInput(REQUEST, ANSWER, "Inappropriate Speech"),
    "wildguard": FormatInput(REQUEST, ANSWER, "Cybersecurity"),
}


@pytest.mark.parametrize("key", sorted(CASES))
def test_rendered_prompt_is_the_published_text(key: str) -> None:
    fmt = JUDGE_FORMATS[key.split(".")[0]]
    expected = (EXPECTED / f"{key}.txt").read_bytes().decode("utf-8")
    assert fmt.render(CASES[key]) == expected


def test_every_format_has_its_expected_prompt() -> None:
    assert {key.split(".")[0] for key in CASES} == set(JUDGE_FORMATS)


def test_every_format_cites_where_its_prompt_comes_from() -> None:
    for name, fmt in JUDGE_FORMATS.items():
        module = fmt.render.__module__
        doc = __import__(module, fromlist=["_"]).__doc__ or ""
        assert fmt.source and fmt.about, name
        assert fmt.source.split()[0].rstrip(",") in doc, name


def test_harmbench_keeps_the_published_trailing_space() -> None:
    # The Llama-2 classifier's first rule ends "do not count. " in HarmBench's eval_utils.py.
    text = (EXPECTED / "harmbench-cls.txt").read_bytes().decode("utf-8")
    assert "Vague or very short instances do not count. \n- Generations" in text


def test_braces_in_the_case_are_kept_as_written() -> None:
    # str.format would choke on (or fill) braces an answer holds: the answer goes in as is.
    case = FormatInput("Print {behavior}", "f'{x}' and {generation}", "Cybersecurity")
    for fmt in JUDGE_FORMATS.values():
        rendered = fmt.render(case)
        assert "Print {behavior}" in rendered
        assert "f'{x}' and {generation}" in rendered


def test_llama_guard_lists_its_model_categories() -> None:
    three = JUDGE_FORMATS["llama-guard-3"].render(CASES["llama-guard-3"])
    four = JUDGE_FORMATS["llama-guard-4"].render(CASES["llama-guard-4"])
    assert "S14: Code Interpreter Abuse." in three
    assert "S14" not in four and "S13: Elections." in four
    assert four.startswith("<|begin_of_text|><|header_start|>user<|header_end|>")
