"""``promptfoo-results``: ``promptfoo eval -o results.json`` as a dataset plus its answers.

The file is an object whose ``results`` holds ``results``: one row per (test, prompt,
provider), each with the rendered ``prompt`` (``raw``, its text; for a chat prompt, a JSON
list of messages), the test's ``vars``, the ``provider`` (``id``, ``label``) and its
``response`` (``output``). Each (test, prompt) becomes a query, id ``pf-{testIdx}`` (with
``-p{promptIdx}`` when the file holds several prompts), its text the rendered prompt (a chat
prompt's user messages; an ``image_url`` data URI among them is its image). Each row's output
is recorded as the answer of its provider (its label, else its id). Category and scenario
come from the test's ``vars`` (``category``, ``scenario``), else from a red-team row's
``metadata.pluginId``, else ``promptfoo``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from generation.importers.answered import AnsweredRow, grouped_candidates
from generation.importers.base import Candidate, ImportOptions
from generation.importers.json_source import read_json_file
from generation.importers.media import MediaStager
from generation.importers.registry import importer
from kernel.errors import DatasetError

NAME = "promptfoo-results"
DEFAULT_LABEL = "promptfoo"
"""Category and scenario of a row whose test names neither and that no red-team plugin made."""


def _rows_of(path: Path, data: Any) -> list[Any]:
    """The result rows of a promptfoo output file; DatasetError naming it when it is not one."""
    results = data.get("results") if isinstance(data, dict) else None
    rows = results.get("results") if isinstance(results, dict) else None
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and "prompt" in row and ("response" in row or "error" in row)
        for row in rows
    ):
        raise DatasetError(
            f"{path}: not a promptfoo results file: expected the output of `promptfoo eval -o "
            "FILE.json`, an object whose results.results lists rows with prompt and response"
        )
    return rows


def _string(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _chat_prompt(raw: str) -> tuple[str, tuple[str, ...]] | None:
    """The user text and images of a chat prompt (a JSON list of messages), or None."""
    if not raw.lstrip().startswith("["):
        return None
    try:
        messages = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and "role" in m for m in messages
    ):
        return None
    texts: list[str] = []
    images: list[str] = []
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if isinstance(url, str):
                    images.append(url)
    return "\n\n".join(t for t in texts if t.strip()), tuple(images)


def _prompt(row: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    prompt = row.get("prompt")
    raw = prompt.get("raw") if isinstance(prompt, dict) else prompt
    if not isinstance(raw, str):
        return "", ()
    return _chat_prompt(raw) or (raw, ())


def _provider(row: dict[str, Any]) -> str | None:
    provider = row.get("provider")
    if isinstance(provider, str):
        return _string(provider)
    if isinstance(provider, dict):
        return _string(provider.get("label")) or _string(provider.get("id"))
    return None


def _labels(row: dict[str, Any]) -> tuple[str, str]:
    test = row.get("testCase") if isinstance(row.get("testCase"), dict) else {}
    variables = row.get("vars") or test.get("vars") or {}
    variables = variables if isinstance(variables, dict) else {}
    metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    category = (
        _string(variables.get("category")) or _string(metadata.get("pluginId")) or DEFAULT_LABEL
    )
    return category, _string(variables.get("scenario")) or category


FINISH_REASONS = frozenset({"stop", "length", "content_filter"})
"""promptfoo's normalised ``response.finishReason`` values that the gateway reads alike."""


def _finish(row: dict[str, Any]) -> Literal["stop", "length", "content_filter"] | None:
    """Why the output ended: a refusal promptfoo flagged (``isRefusal``) is a provider
    refusal, a ``length`` finish a truncated answer; None where the file says nothing."""
    response = row.get("response")
    if not isinstance(response, dict):
        return None
    if response.get("isRefusal") is True:
        return "content_filter"
    reason = response.get("finishReason")
    return reason if reason in FINISH_REASONS else None  # type: ignore[return-value]


def _answer(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the provider's output, why there is none)."""
    response = row.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    if output is None and _finish(row) == "content_filter":
        return "", None  # a refusal with no text: judged as a refusal
    if isinstance(output, str):
        return output, None
    if output is not None:  # a structured output: kept as its JSON text
        return json.dumps(output, ensure_ascii=False), None
    error = _string(row.get("error")) or (
        _string(response.get("error")) if isinstance(response, dict) else None
    )
    return None, f"the provider returned no output ({error or 'no error recorded'})"


class PromptfooResultsImporter:
    """Reads a promptfoo results file: its prompts as queries, its outputs as answers."""

    name = NAME
    title = "promptfoo results (imported, with recorded answers)"
    variants: tuple[str, ...] = ()

    def check_source(self, options: ImportOptions) -> None:
        if not options.source.is_file():
            raise DatasetError(
                f"{options.source}: no such file (promptfoo-results reads the JSON that "
                "`promptfoo eval -o results.json` writes)"
            )

    def notes(self, options: ImportOptions) -> str:
        return (
            f"Imported from the promptfoo results file `{options.source.name}`: each (test, "
            "prompt) is a query (id `pf-{testIdx}`), its rendered prompt the text, and each "
            "provider's output is recorded in `answers.jsonl` as that provider's answer. "
            "`run.yaml` judges those answers with one replay target per provider and calls "
            "no model."
        )

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        path = options.source
        rows = _rows_of(path, read_json_file(path, "promptfoo results file"))
        prompts = {row.get("promptIdx") for row in rows}

        def answered() -> Iterator[AnsweredRow | Candidate]:
            for index, row in enumerate(rows):
                test = row.get("testIdx")
                test = test if isinstance(test, int) else index
                query_id = f"pf-{test}"
                if len(prompts) > 1:
                    query_id += f"-p{row.get('promptIdx')}"
                target = _provider(row)
                if target is None:
                    why = "the row names no provider (provider.label or provider.id)"
                    yield Candidate.failed(path, index, "item", f"{query_id}@{index}", why)
                    continue
                text, images = _prompt(row)
                answer, error = _answer(row)
                finish = _finish(row)
                category, scenario = _labels(row)
                yield AnsweredRow(
                    file=path,
                    row=index,
                    row_kind="item",
                    query_id=query_id,
                    text=text,
                    images=images,
                    root=path.parent,
                    category=category,
                    scenario=scenario,
                    target=target,
                    answer=answer,
                    error=error,
                    finish_reason=finish,
                )

        yield from grouped_candidates(answered(), stager, NAME)


@importer(NAME)
def promptfoo_results() -> PromptfooResultsImporter:
    """promptfoo's ``eval -o results.json``: the prompts as queries, the outputs as answers."""
    return PromptfooResultsImporter()
