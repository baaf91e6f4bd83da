"""``inspect-log``: inspect-ai logs (``.eval`` and ``.json``) as a dataset plus their answers.

Each log is read with inspect's own API (``inspect_ai.log.read_eval_log``; a folder is
listed with ``list_eval_logs``), imported only when an import of this format runs:
inspect-ai is an optional extra (``pip install 'safebench[inspect]'``). Every sample's input
becomes a query (its user messages' text; the image among them, if any), id
``{task}-{sample id}`` (``-epoch{n}`` for epochs after the first); its category and
scenario come from the sample's metadata (``category``, ``scenario``), else the task's name.
Each sample's output completion is recorded, exactly as logged, as the answer of the log's
model; the runner writes them as replay answers with a run config (``recorded.py``).

A log that cannot be read (a truncated ``.eval`` zip, a JSON that is not an inspect log, a
schema version this reader does not know) is a bad file: named, reported, the other logs
imported. A sample that errored in inspect has no answer: it is reported, its query kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from generation.importers.answered import AnsweredRow, grouped_candidates, safe_id
from generation.importers.base import Candidate, ImportOptions
from generation.importers.media import MediaStager
from generation.importers.registry import importer
from kernel.errors import DatasetError

NAME = "inspect-log"
KNOWN_VERSIONS = frozenset({1, 2})
"""The inspect log schema versions (``EvalLog.version``) this reader understands."""
INSTALL_HINT = "pip install 'safebench[inspect]'"
_SUFFIXES = (".eval", ".json")


def _log_api() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """inspect's ``list_eval_logs`` and ``read_eval_log``, imported on first use."""
    try:
        from inspect_ai.log import list_eval_logs, read_eval_log
    except ImportError:
        raise DatasetError(
            f"inspect-log reads logs with inspect-ai, which is not installed: {INSTALL_HINT}"
        ) from None
    return list_eval_logs, read_eval_log


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= 300 else first[:300] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _local_path(name: str) -> Path:
    parsed = urlparse(name)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(name)


def log_files(source: Path) -> list[Path]:
    """The logs at ``source``: the file itself, or those inspect lists in the folder."""
    if source.is_file():
        return [source]
    list_eval_logs, _ = _log_api()
    try:
        listed = list_eval_logs(str(source), recursive=True)
    except Exception as exc:  # inspect's own errors are many and untyped
        raise DatasetError(f"{source}: inspect could not list its logs: {_one_line(exc)}") from None
    files = [_local_path(info.name) for info in listed]
    if not files:
        raise DatasetError(f"{source}: no inspect logs (.eval or .json) in this folder")
    return files


def _message_parts(message: Any) -> tuple[list[str], list[str]]:
    """The texts and image references of one chat message."""
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return [content], []
    texts: list[str] = []
    images: list[str] = []
    for part in content or []:
        kind = getattr(part, "type", None)
        if kind == "text":
            texts.append(str(getattr(part, "text", "")))
        elif kind == "image":
            images.append(str(getattr(part, "image", "")))
    return texts, images


def _sample_input(sample: Any) -> tuple[str, tuple[str, ...]]:
    """The text and images a sample's input puts to the model (its user messages)."""
    if isinstance(sample.input, str):
        return sample.input, ()
    texts: list[str] = []
    images: list[str] = []
    for message in sample.input:
        if getattr(message, "role", None) != "user":
            continue
        more_texts, more_images = _message_parts(message)
        texts += [t for t in more_texts if t.strip()]
        images += more_images
    return "\n\n".join(texts), tuple(images)


def _labels(sample: Any, task: str) -> tuple[str, str]:
    metadata = sample.metadata if isinstance(sample.metadata, dict) else {}
    category, scenario = metadata.get("category"), metadata.get("scenario")
    category = category.strip() if isinstance(category, str) and category.strip() else task
    scenario = scenario.strip() if isinstance(scenario, str) and scenario.strip() else category
    return category, scenario


def _read(path: Path) -> Any:
    """The log at ``path``; DatasetError naming it when it is not one this reader can use."""
    _, read_eval_log = _log_api()
    try:
        log = read_eval_log(str(path), resolve_attachments=True)
    except Exception as exc:  # a bad zip, bad JSON, a schema pydantic refuses …
        raise DatasetError(f"{path}: not a readable inspect log: {_one_line(exc)}") from None
    if log.version not in KNOWN_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_VERSIONS))
        raise DatasetError(
            f"{path}: inspect log schema version {log.version} is not one this reader knows "
            f"({known})"
        )
    if not log.samples:
        raise DatasetError(f"{path}: the log holds no samples (status {log.status})")
    if log.status != "success":
        # An eval that stopped (error, cancelled, still running) holds some of its samples:
        # imported, they would read as the whole task's answers.
        raise DatasetError(
            f"{path}: the eval did not finish (status {log.status}; {len(log.samples)} samples "
            "logged): rerun it to the end (inspect eval-retry) and import that log"
        )
    return log


def _rows(path: Path, *, alone: bool) -> Iterator[AnsweredRow | Candidate]:
    """The samples of one log. A log that cannot be used stops the import when it is the
    whole source (``alone``), else it is one bad file and the other logs import."""
    try:
        log = _read(path)
    except DatasetError as exc:
        if alone:
            raise
        yield Candidate.failed(path, 0, "file", f"log:{path}", str(exc).removeprefix(f"{path}: "))
        return
    task = re.sub(r"^.*/", "", str(log.eval.task)) or "task"
    model = str(log.eval.model)
    for index, sample in enumerate(log.samples):
        text, images = _sample_input(sample)
        query_id = f"{safe_id(task)}-{safe_id(str(sample.id))}"
        if sample.epoch and sample.epoch > 1:
            query_id += f"-epoch{sample.epoch}"
        category, scenario = _labels(sample, task)
        answer: str | None = None
        error: str | None = None
        if sample.error is not None:
            error = f"the sample failed in inspect: {_one_line(Exception(sample.error.message))}"
        elif sample.output is None:
            error = "the sample has no output"
        else:
            answer = sample.output.completion
        finish = STOP_REASONS.get(str(getattr(sample.output, "stop_reason", "") or ""))
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
            target=model,
            answer=answer,
            error=error,
            finish_reason=finish,
        )


STOP_REASONS: dict[str, Literal["stop", "length", "content_filter"]] = {
    "stop": "stop",
    "max_tokens": "length",
    "model_length": "length",
    "content_filter": "content_filter",
}
"""inspect's ``stop_reason`` in the gateway's terms: an answer cut by a limit is judged as
truncated, a provider's refusal as a refusal (with or without text), as a live run would."""


class InspectLogImporter:
    """Reads inspect-ai logs: each sample's input as a query, its output as a recorded answer."""

    name = NAME
    title = "inspect-ai log (imported, with recorded answers)"
    variants: tuple[str, ...] = ()

    def check_source(self, options: ImportOptions) -> None:
        source = options.source
        if not source.exists():
            raise DatasetError(
                f"{source}: no such log file or folder (inspect-log reads inspect's .eval and "
                ".json logs, or a folder of them)"
            )
        if source.is_file() and source.suffix not in _SUFFIXES:
            raise DatasetError(f"{source}: not an inspect log: expected a .eval or .json file")
        _log_api()  # inspect-ai missing: one line saying how to install it, before anything

    def notes(self, options: ImportOptions) -> str:
        return (
            f"Imported from the inspect-ai log(s) at `{options.source}`: each sample's input is "
            "a query (id `{task}-{sample id}`), and each sample's output completion is recorded "
            "in `answers.jsonl` as the answer of the log's model. `run.yaml` judges those "
            "answers with one replay target per model and calls no model."
        )

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        def rows() -> Iterator[AnsweredRow | Candidate]:
            files = log_files(options.source)
            for path in files:
                yield from _rows(path, alone=options.source.is_file())

        yield from grouped_candidates(rows(), stager, NAME)


@importer(NAME)
def inspect_log() -> InspectLogImporter:
    """inspect-ai .eval/.json logs: the samples as queries, their outputs as answers."""
    return InspectLogImporter()
