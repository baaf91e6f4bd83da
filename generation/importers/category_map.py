"""A category map: which scenario (and category) each block of a flat prompt list belongs to.

Lists such as the redistributed ``safebench.json`` hold prompts in consecutive blocks and no
category field; the map names each block by its first index. Scenarios of the paper's
taxonomy may leave out the category, which is then looked up.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from generation.taxonomy import PAPER_TAXONOMY
from kernel.errors import DatasetError
from kernel.files import read_text_bounded
from kernel.validation import validation_problems


class Block(BaseModel):
    """One block of consecutive items sharing a scenario."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(ge=0)
    """0-based index of the block's first item; it runs to the next block's start."""
    scenario: str = Field(min_length=1)
    """Scenario of every item in the block."""
    category: str | None = None
    """Category of the scenario; looked up in the paper's taxonomy when left out."""


class CategoryMap(BaseModel):
    """Blocks of items, each with its scenario and category, ordered by start."""

    model_config = ConfigDict(extra="forbid")

    note: str = ""
    """Where the map came from (shown in the dataset card)."""
    blocks: list[Block] = Field(min_length=1)
    """The blocks, in increasing order of start."""

    @model_validator(mode="after")
    def _ordered_and_named(self) -> CategoryMap:
        starts = [block.start for block in self.blocks]
        if starts != sorted(set(starts)):
            raise ValueError("block starts must be strictly increasing")
        for block in self.blocks:
            if block.category is None:
                try:
                    block.category = PAPER_TAXONOMY.category_of(block.scenario)
                except KeyError:
                    raise ValueError(
                        f"block at {block.start}: scenario {block.scenario!r} is not in the "
                        "paper's taxonomy; give its category"
                    ) from None
        return self

    def lookup(self, index: int) -> tuple[str, str] | None:
        """(category, scenario) of the item at ``index``; None before the first block."""
        position = bisect.bisect_right([b.start for b in self.blocks], index) - 1
        if position < 0:
            return None
        block = self.blocks[position]
        return block.category or "", block.scenario

    def ordered(self) -> list[tuple[str, str]]:
        """(category, scenario) of every block, in order."""
        return [(block.category or "", block.scenario) for block in self.blocks]


def load_category_map(path: Path) -> CategoryMap:
    """Read a category map; DatasetError naming the file (and field) on bad input."""
    try:
        data = json.loads(
            read_text_bounded(Path(path), what="category map", error=DatasetError)
        )
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read category map: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: category map is not valid UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: category map is not valid JSON: {exc}") from exc
    try:
        return CategoryMap.model_validate(data)
    except ValidationError as exc:
        details = validation_problems(exc, root="<root>")
        raise DatasetError(f"{path}: invalid category map: {details}") from exc
