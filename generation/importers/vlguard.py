"""``vlguard``: VLGuard's test set (Zong et al., ICML 2024) in its published layout.

``test.json`` is a list of entries ``{"id", "image", "safe", "harmful_category",
"harmful_subcategory", "instr-resp": [...]}``; ``image`` is a path inside the ``test/``
folder that ``test.zip`` unpacks to, beside ``test.json``. An unsafe image (``safe: false``)
comes with one ``{"instruction", "response"}``: a request about a harmful image. A safe
image comes with a ``safe_instruction`` and an ``unsafe_instruction``.

Every harmful request becomes a query with its image: the instruction of an unsafe image
(``vlguard-{id}-{n}``, variant ``unsafe-image``) and the unsafe instruction of a safe image
(variant ``safe-image``). The safe instructions are benign controls; SafeBench's queries are
harmful by definition (``kernel.records.Query`` has no benign flag), so they are left out,
and the card says so. The harmful subcategory is the scenario; its category is SafeBench's
map onto the paper's taxonomy (:data:`SUBCATEGORY_CATEGORIES`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from generation.importers.base import Candidate, ImportOptions
from generation.importers.json_source import read_json_file
from generation.importers.media import MediaStager, RowError
from generation.importers.registry import importer
from kernel.errors import DatasetError
from kernel.records import Query

NAME = "vlguard"
TEST_FILE = "test.json"
IMAGES_DIR = "test"
"""The folder ``test.zip`` unpacks to; each entry's ``image`` is a path inside it."""
UNLABELLED = "Unsafe instruction"
"""Category and scenario of a harmful request whose entry names no harmful category (the
unsafe instructions on safe images)."""

SUBCATEGORY_CATEGORIES: dict[str, str] = {
    "personal data": "Confidential Information",
    "professional advice": "Consultation",
    "political": "Inappropriate Opinions",
    "sexually explicit": "Illegal & Criminal Behavior",
    "violence": "Violence",
    "disinformation": "Inappropriate Speech",
    "discrimination by sex": "Inappropriate Opinions",
    "discrimination by race": "Inappropriate Opinions",
}
"""VLGuard's harmful subcategories (lower case) -> the paper's category."""
CATEGORY_CATEGORIES: dict[str, str] = {
    "privacy": "Confidential Information",
    "risky behavior": "Violence",
    "deception": "Inappropriate Speech",
    "hateful speech": "Inappropriate Speech",
    "discrimination": "Inappropriate Opinions",
}
"""VLGuard's harmful categories -> the paper's, for an entry that names no subcategory."""


def _test_file(source: Path) -> Path:
    return source / TEST_FILE if source.is_dir() else source


def _parts(options: ImportOptions) -> set[str]:
    return {options.variant} if options.variant else {"unsafe-image", "safe-image"}


class VLGuardImporter:
    """Reads VLGuard's ``test.json`` and its ``test/`` images; harmful requests only."""

    name = NAME
    title = "VLGuard test set, harmful requests (imported)"
    variants: tuple[str, ...] = ("unsafe-image", "safe-image")

    def check_source(self, options: ImportOptions) -> None:
        path = _test_file(options.source)
        if not path.is_file():
            raise DatasetError(
                f"{path}: no such file (vlguard reads VLGuard's {TEST_FILE}, or the folder "
                f"holding it and its {IMAGES_DIR}/ images)"
            )

    def notes(self, options: ImportOptions) -> str:
        return (
            f"Imported from VLGuard's `{_test_file(options.source).name}` "
            f"({', '.join(sorted(_parts(options)))}): the instruction on each unsafe image and "
            "the unsafe instruction on each safe image, with the image. The safe instructions "
            "(benign controls) were not imported: SafeBench queries are harmful requests. The "
            "harmful subcategory is the scenario; its category is SafeBench's map onto the "
            f"paper's categories ('{UNLABELLED}' where the entry names none)."
        )

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        path = _test_file(options.source)
        data = read_json_file(path, "VLGuard test file")
        if not isinstance(data, list) or not any(
            isinstance(item, dict) and "instr-resp" in item for item in data
        ):
            got = type(data).__name__ if not isinstance(data, list) else "a list of other objects"
            raise DatasetError(
                f"{path}: not a VLGuard test file: expected a list of entries with 'image', "
                f"'safe' and 'instr-resp' (got {got})"
            )
        parts = _parts(options)
        for index, entry in enumerate(data):
            if not isinstance(entry, dict):
                why = f"entry must be an object, got {type(entry).__name__}"
                yield Candidate.failed(path, index, "item", f"vlguard-item-{index}", why)
                continue
            key = re.sub(r"[^A-Za-z0-9_-]+", "_", str(entry.get("id", ""))) or f"item-{index}"
            pairs = entry.get("instr-resp")
            if not isinstance(pairs, list) or not pairs:
                why = f"entry {key!r}: 'instr-resp' must be a non-empty list"
                yield Candidate.failed(path, index, "item", f"vlguard-{key}", why)
                continue
            safe_image = entry.get("safe")
            if not isinstance(safe_image, bool):
                why = f"entry {key!r}: 'safe' must be true or false"
                yield Candidate.failed(path, index, "item", f"vlguard-{key}", why)
                continue
            if ("safe-image" if safe_image else "unsafe-image") not in parts:
                continue
            field = "unsafe_instruction" if safe_image else "instruction"
            if not any(not isinstance(pair, dict) or field in pair for pair in pairs):
                why = f"entry {key!r}: no {field!r} in its instr-resp"
                yield Candidate.failed(path, index, "item", f"vlguard-{key}", why)
                continue
            for n, pair in enumerate(pairs):
                if isinstance(pair, dict) and field not in pair:
                    continue  # a safe instruction: a benign control, not imported
                entry_row = _Entry(path.parent, key, entry, pair, field)
                yield Candidate(
                    file=path,
                    row=index,
                    row_kind="item",
                    query_id=f"vlguard-{key}-{n}",
                    build=partial(entry_row.build, stager, f"vlguard-{key}-{n}"),
                )


@dataclass(frozen=True)
class _Entry:
    """One harmful request of a VLGuard entry."""

    root: Path
    key: str
    entry: dict[str, Any]
    pair: Any
    field: str

    def _category(self) -> tuple[str, str]:
        sub = self.entry.get("harmful_subcategory")
        main = self.entry.get("harmful_category")
        if isinstance(sub, str) and sub.strip():
            mapped = SUBCATEGORY_CATEGORIES.get(sub.strip().lower())
            fallback = main.strip() if isinstance(main, str) and main.strip() else sub.strip()
            return mapped or CATEGORY_CATEGORIES.get(fallback.lower(), fallback), sub.strip()
        if isinstance(main, str) and main.strip():
            return CATEGORY_CATEGORIES.get(main.strip().lower(), main.strip()), main.strip()
        return UNLABELLED, UNLABELLED

    def build(self, stager: MediaStager, query_id: str) -> Query:
        where = f"entry {self.key!r}"
        if not isinstance(self.pair, dict):
            raise RowError(f"{where}: an instr-resp item must be an object")
        text = self.pair.get(self.field)
        if not isinstance(text, str) or not text.strip():
            raise RowError(f"{where}: no {self.field!r} text")
        image = self.entry.get("image")
        if not isinstance(image, str) or not image.strip():
            raise RowError(f"{where}: no image path")
        # test.json names images inside test/; a copy with the folder in the path works too.
        inside = Path(IMAGES_DIR) / image
        relative = inside if (self.root / inside).exists() else Path(image)
        if not (self.root / relative).exists():
            raise RowError(f"{where}: image {inside} not found in {self.root}")
        try:
            ref = stager.image(self.root, relative, query_id)
        except RowError as exc:
            raise RowError(f"{where}: {exc}") from None
        category, scenario = self._category()
        return Query(
            id=query_id,
            category=category,
            scenario=scenario,
            text=text.strip(),
            image=ref,
            source=NAME,
        )


@importer(NAME)
def vlguard() -> VLGuardImporter:
    """VLGuard's test.json with its test/ images: the harmful requests."""
    return VLGuardImporter()
