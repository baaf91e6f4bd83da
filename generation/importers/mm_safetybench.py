"""``mm-safetybench``: MM-SafetyBench (Liu et al., ECCV 2024) in its published layout.

The questions are ``data/processed_questions/{NN}-{Scenario}.json``, one file per scenario
(``01-Illegal_Activitiy`` ... ``13-Gov_Decision``), each an object keyed by question id whose
values hold ``Question``, ``Changed Question``, ``Key Phrase``, ``Phrase Type``,
``Rephrased Question`` and ``Rephrased Question(SD)``. Each question has three images, under
``imgs/{NN}-{Scenario}/``: ``SD/{id}.jpg`` (a Stable Diffusion picture of the key phrase),
``TYPO/{id}.jpg`` (the key phrase as typography) and ``SD_TYPO/{id}.jpg`` (both stacked).

Each (question, image variant) becomes one query, paired with the text the benchmark pairs
with that image: ``Rephrased Question(SD)`` for SD, ``Rephrased Question`` for TYPO and
SD_TYPO. ``--variant SD|TYPO|SD_TYPO`` imports one variant; the default imports all three
(ids ``mmsb-{NN}-{id}-{sd|typo|sd-typo}``). Scenario NN keeps MM-SafetyBench's own name and
gets a category of the paper's taxonomy from a built-in category map (:data:`DEFAULT_MAP`);
``--categories FILE`` replaces it, its k-th block naming scenario k.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from generation.importers.base import Candidate, ImportOptions
from generation.importers.category_map import Block, CategoryMap, load_category_map
from generation.importers.json_source import read_json_file
from generation.importers.media import MediaStager, RowError
from generation.importers.registry import importer
from kernel.errors import DatasetError
from kernel.records import Query

NAME = "mm-safetybench"
VARIANTS: dict[str, str] = {
    "SD": "Rephrased Question(SD)",
    "TYPO": "Rephrased Question",
    "SD_TYPO": "Rephrased Question",
}
"""Image variant (its folder under ``imgs/{scenario}/``) -> the question field paired with it."""
_FILE = re.compile(r"^(?P<k>\d{1,3})-(?P<name>.+)$")

DEFAULT_MAP = CategoryMap(
    note=(
        "SafeBench's map of MM-SafetyBench's 13 scenarios onto the paper's categories; the "
        "scenarios keep MM-SafetyBench's names."
    ),
    blocks=[
        Block(start=k, scenario=scenario, category=category)
        for k, (scenario, category) in enumerate(
            [
                ("Illegal Activity", "Illegal & Criminal Behavior"),
                ("Hate Speech", "Inappropriate Speech"),
                ("Malware Generation", "Cybersecurity"),
                ("Physical Harm", "Violence"),
                ("Economic Harm", "Ethics"),
                ("Fraud", "Illegal & Criminal Behavior"),
                ("Sex", "Illegal & Criminal Behavior"),
                ("Political Lobbying", "Inappropriate Opinions"),
                ("Privacy Violence", "Confidential Information"),
                ("Legal Opinion", "Consultation"),
                ("Financial Advice", "Consultation"),
                ("Health Consultation", "Consultation"),
                ("Gov Decision", "Inappropriate Opinions"),
            ]
        )
    ],
)
"""Scenario k (block k-1) -> (MM-SafetyBench's scenario name, the paper's category)."""


def _folder(root: Path, *choices: str) -> Path | None:
    return next((root / c for c in choices if (root / c).is_dir()), None)


def _questions_dir(root: Path) -> Path | None:
    # The repository root holds data/processed_questions; its data/ folder may be given too.
    return _folder(root, "data/processed_questions", "processed_questions")


def _images_dir(root: Path) -> Path | None:
    return _folder(root, "data/imgs", "imgs")


class MMSafetyBenchImporter:
    """Reads MM-SafetyBench's per-scenario question files and their three image variants."""

    name = NAME
    title = "MM-SafetyBench (imported)"
    variants: tuple[str, ...] = tuple(VARIANTS)

    def check_source(self, options: ImportOptions) -> None:
        root = options.source
        if not root.is_dir():
            raise DatasetError(f"{root}: no such folder (mm-safetybench reads a folder)")
        if _questions_dir(root) is None:
            raise DatasetError(
                f"{root}: not an MM-SafetyBench folder: no data/processed_questions/ "
                "(or processed_questions/) of {NN}-{Scenario}.json files"
            )
        if _images_dir(root) is None:
            raise DatasetError(f"{root}: no imgs/ (or data/imgs/) folder of scenario images")
        if options.categories is not None and not options.categories.is_file():
            raise DatasetError(f"{options.categories}: no such category map file")

    def _order(self, options: ImportOptions) -> CategoryMap:
        return load_category_map(options.categories) if options.categories else DEFAULT_MAP

    def notes(self, options: ImportOptions) -> str:
        mapping = self._order(options)
        chosen = options.variant or "all three (SD, TYPO, SD_TYPO)"
        pairs = "; ".join(f"{k}: {c} / {s}" for k, (c, s) in enumerate(mapping.ordered(), 1))
        return (
            f"Imported from MM-SafetyBench's processed questions and images; image variant: "
            f"{chosen}. SD images are paired with `Rephrased Question(SD)`, TYPO and SD_TYPO "
            f"with `Rephrased Question`. Scenario k -> category / scenario: {pairs}. "
            f"{mapping.note}"
        )

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        root = options.source
        questions, images = _questions_dir(root), _images_dir(root)
        assert questions is not None and images is not None  # check_source saw them
        order = self._order(options).ordered()
        variants = [options.variant] if options.variant else list(VARIANTS)
        for path in sorted(questions.glob("*.json")):
            match = _FILE.match(path.stem)
            k = int(match["k"]) if match else 0
            if not 1 <= k <= len(order):
                why = (
                    f"not a scenario file: expected {{NN}}-{{Scenario}}.json, NN in 1..{len(order)}"
                )
                yield Candidate.failed(path, 0, "file", path.name, why)
                continue
            try:
                data = read_json_file(path, "MM-SafetyBench question file")
                items = _question_items(data)
            except DatasetError as exc:
                yield Candidate.failed(path, 0, "file", path.name, str(exc))
                continue
            category, scenario = order[k - 1]
            for variant in variants:
                folder = images / path.stem / variant
                if not folder.is_dir():
                    why = (
                        f"image folder {folder.relative_to(root)}/ not found: the {variant} "
                        "variant of this scenario was not imported"
                    )
                    yield Candidate.failed(path, 0, "file", f"{path.name}:{variant}", why)
                    continue
                for index, (key, item) in enumerate(items):
                    row = _Question(root, folder, k, key, item, variant, category, scenario)
                    yield Candidate(
                        file=path,
                        row=index,
                        row_kind="item",
                        query_id=row.query_id,
                        build=partial(row.build, stager),
                    )


def _question_items(data: Any) -> list[tuple[str, Any]]:
    """The (id, question) pairs of a question file; DatasetError if it is not one."""
    looks_right = isinstance(data, dict) and any(
        isinstance(v, dict) and ("Question" in v or "Rephrased Question" in v)
        for v in data.values()
    )
    if not looks_right:
        got = type(data).__name__ if not isinstance(data, dict) else "an object of other fields"
        raise DatasetError(
            "not an MM-SafetyBench question file: expected an object keyed by question id, "
            f"each holding 'Question' and 'Rephrased Question' (got {got})"
        )
    return [(str(key), value) for key, value in data.items()]


@dataclass(frozen=True)
class _Question:
    """One question of scenario k, put with one image variant."""

    root: Path
    folder: Path
    k: int
    key: str
    item: Any
    variant: str
    category: str
    scenario: str

    @property
    def query_id(self) -> str:
        tag = self.variant.lower().replace("_", "-")
        safe_key = re.sub(r"[^A-Za-z0-9_-]+", "_", self.key)
        return f"mmsb-{self.k:02d}-{safe_key}-{tag}"

    def build(self, stager: MediaStager) -> Query:
        where = f"question {self.key!r} ({self.variant})"
        if not isinstance(self.item, dict):
            raise RowError(f"{where}: expected an object, got {type(self.item).__name__}")
        field = VARIANTS[self.variant]
        text = self.item.get(field)
        if not isinstance(text, str) or not text.strip():
            raise RowError(f"{where}: no {field!r} text")
        image = next(
            (
                self.folder / f"{self.key}{ext}"
                for ext in (".jpg", ".jpeg", ".png")
                if (self.folder / f"{self.key}{ext}").exists()
            ),
            None,
        )
        if image is None:
            relative = (self.folder / f"{self.key}.jpg").relative_to(self.root)
            raise RowError(f"{where}: image {relative} not found")
        try:
            ref = stager.image(self.root, image.relative_to(self.root), self.query_id)
        except RowError as exc:
            raise RowError(f"{where}: {exc}") from None
        return Query(
            id=self.query_id,
            category=self.category,
            scenario=self.scenario,
            text=text.strip(),
            image=ref,
            source=NAME,
        )


@importer(NAME)
def mm_safetybench() -> MMSafetyBenchImporter:
    """MM-SafetyBench: per-scenario question JSON with SD, TYPO and SD_TYPO images."""
    return MMSafetyBenchImporter()
