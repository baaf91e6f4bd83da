"""``json-list``: a JSON list of prompts, with a category map naming their scenarios.

The list is either the whole file or the ``data`` (or ``prompts``, ``queries``, ``items``)
field of an object, as in the redistributed ``safebench.json``. An item is a string (the
prompt) or an object with the prompt under ``prompt``, ``text``, ``query`` or ``question``,
and optionally ``id``, ``category``, ``scenario``, ``image`` (a path relative to the JSON
file's folder) and ``audio`` (``{voice: path}``). Without ``--categories`` every item must
name its own category and scenario.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from generation.importers.base import Candidate, ImportOptions
from generation.importers.category_map import CategoryMap, load_category_map
from generation.importers.media import MediaStager, RowError
from generation.importers.registry import importer
from kernel.errors import DatasetError
from kernel.files import MAX_DATA_FILE_BYTES, read_bytes_bounded
from kernel.records import MediaRef, Query

NAME = "json-list"
_LIST_KEYS = ("data", "prompts", "queries", "items")
_TEXT_KEYS = ("prompt", "text", "query", "question")


def _load_items(path: Path) -> list[Any]:
    try:
        raw = read_bytes_bounded(
            path, MAX_DATA_FILE_BYTES, what="JSON file to import", error=DatasetError
        )
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read JSON file: {exc}") from exc
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not valid UTF-8 (byte {exc.start}); re-save as UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                return list(data[key])
        raise DatasetError(
            f"{path}: a JSON object must hold the prompts as a list under one of "
            f"{', '.join(_LIST_KEYS)}"
        )
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of prompts, got {type(data).__name__}")
    return data


def _text_of(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in _TEXT_KEYS:
            value = item.get(key)
            if isinstance(value, str):
                return value
        raise RowError(f"no prompt: the item has none of the fields {', '.join(_TEXT_KEYS)}")
    raise RowError(f"an item must be a string or an object, got {type(item).__name__}")


class JsonListImporter:
    """Reads a JSON list of prompts; a category map (or the items) names their scenarios."""

    name = NAME
    title = "Imported prompt list"
    variants: tuple[str, ...] = ()

    def check_source(self, options: ImportOptions) -> None:
        if not options.source.is_file():
            raise DatasetError(
                f"{options.source}: no such JSON file (json-list reads one JSON file of prompts)"
            )
        if options.categories is not None and not options.categories.is_file():
            raise DatasetError(f"{options.categories}: no such category map file")

    def notes(self, options: ImportOptions) -> str:
        lines = [f"Imported from the JSON list `{options.source.name}`."]
        if options.categories is not None:
            mapping = load_category_map(options.categories)
            lines.append(
                f"Categories and scenarios come from the map `{options.categories.name}` "
                f"({len(mapping.blocks)} blocks)."
            )
            if mapping.note:
                lines.append(f"The map says: {mapping.note}")
        return "\n".join(lines)

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        path = options.source
        mapping = load_category_map(options.categories) if options.categories else None
        items = _load_items(path)
        for index, item in enumerate(items):
            explicit = item.get("id") if isinstance(item, dict) else None
            query_id = str(explicit) if explicit not in (None, "") else f"{path.stem}-{index:04d}"
            yield Candidate(
                file=path,
                row=index,
                row_kind="item",
                query_id=query_id,
                build=self._builder(path, index, item, query_id, mapping, stager),
            )

    @staticmethod
    def _builder(
        path: Path,
        index: int,
        item: Any,
        query_id: str,
        mapping: CategoryMap | None,
        stager: MediaStager,
    ) -> Callable[[], Query]:
        def build() -> Query:
            text = _text_of(item).strip()
            if not text:
                raise RowError("empty prompt: the item has no text")
            fields = item if isinstance(item, dict) else {}
            category, scenario = fields.get("category"), fields.get("scenario")
            if not (isinstance(category, str) and category and isinstance(scenario, str)):
                found = mapping.lookup(index) if mapping else None
                if found is None:
                    raise RowError(
                        "no category: the item names no category and scenario, and "
                        + (
                            "the map has no block starting at or before it"
                            if mapping
                            else "no map was given (--categories FILE)"
                        )
                    )
                category, scenario = found
            image: MediaRef | None = None
            if fields.get("image"):
                image = stager.image(path.parent, str(fields["image"]), query_id)
            audio: list[MediaRef] = []
            spoken = fields.get("audio") or {}
            if not isinstance(spoken, dict):
                raise RowError("'audio' must map each voice to a WAV path")
            for voice, audio_path in sorted(spoken.items()):
                audio.append(stager.audio_file(path.parent, str(audio_path), query_id, voice))
            return Query(
                id=query_id,
                category=category,
                scenario=scenario or category,
                text=text,
                image=image,
                audio=tuple(audio),
                source=NAME,
            )

        return build


@importer(NAME)
def json_list() -> JsonListImporter:
    """A JSON list of prompts plus a category map (``--categories``)."""
    return JsonListImporter()
