"""``safebench-release``: the published SafeBench layout of text, images and speech.

The release holds one CSV per scenario, ``text/{k}.csv`` (k = 1..23), one query per row;
the images ``{k}/{i}.png`` (or under ``images/{k}/``) and the speech
``audio_data_male/{k}/{i}.wav`` and ``audio_data_female/{k}/{i}.wav``, i being the row's
index among the data rows. Whether i counts from 0 or from 1 is read from the files present.
A CSV whose header has an ``image`` (or ``image_path``) column names each row's image by a
path relative to the release folder instead.

k maps to the paper's scenario order (``PAPER_TAXONOMY``, scenario 1 = Medical Advice);
``--categories`` replaces that order with a category map's blocks, the k-th block naming
scenario k. A folder of scenario k that is missing means that modality was not released for
k; a file missing inside a folder that exists is a bad row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from generation.importers.base import Candidate, ImportOptions
from generation.importers.category_map import load_category_map
from generation.importers.csv_rows import CsvRow, read_csv_rows
from generation.importers.media import MediaStager, RowError
from generation.importers.registry import importer
from generation.taxonomy import PAPER_TAXONOMY
from kernel.errors import DatasetError
from kernel.records import MediaRef, Query

NAME = "safebench-release"
TEXT_DIR = "text"
VOICES: dict[str, str] = {"male": "audio_data_male", "female": "audio_data_female"}
"""Voice name -> the release's folder of that voice's speech."""
_QUERY_COLUMNS = ("query", "question", "prompt", "text", "instruction", "content")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_IMAGE_COLUMNS = ("image", "image_path", "img")


def _scenario_order(options: ImportOptions) -> list[tuple[str, str]]:
    if options.categories is not None:
        return load_category_map(options.categories).ordered()
    return [(category.name, scenario.name) for category, scenario in PAPER_TAXONOMY.scenarios()]


@dataclass(frozen=True)
class _Columns:
    """Where a scenario CSV keeps its query (and, optionally, an image path)."""

    query: int
    """Index of the column holding the query."""
    image: int | None
    """Index of a column of image paths (relative to the release folder), if the header has one."""
    header: bool
    """Whether the first row is a header."""


def _columns(rows: list[CsvRow]) -> _Columns:
    readable = [row for row in rows if row.error is None]
    if not readable:
        return _Columns(query=0, image=None, header=False)
    first = [cell.strip().lower() for cell in readable[0].cells]
    for name in _QUERY_COLUMNS:
        if name in first:
            image = next((first.index(n) for n in _IMAGE_COLUMNS if n in first), None)
            return _Columns(query=first.index(name), image=image, header=readable[0] is rows[0])
    # No header: the query is the column with the most text (an index column is short).
    width = max(len(row.cells) for row in readable)
    totals = [
        sum(len(row.cells[c]) for row in readable if c < len(row.cells)) for c in range(width)
    ]
    return _Columns(query=totals.index(max(totals)), image=None, header=False)


def _image_folder(root: Path, k: int) -> Path | None:
    for folder in (root / str(k), root / "images" / str(k)):
        if folder.is_dir():
            return folder
    return None


def _first_index(root: Path, k: int) -> int:
    """0 when the release's files of scenario k count rows from 0, else 1."""
    folders = [_image_folder(root, k)] + [root / voice / str(k) for voice in VOICES.values()]
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        if any((folder / f"0{ext}").exists() for ext in (*_IMAGE_EXTENSIONS, ".wav")):
            return 0
        return 1
    return 1


def _scenario_files(root: Path) -> list[tuple[int | None, Path]]:
    found: list[tuple[int | None, Path]] = []
    for path in sorted((root / TEXT_DIR).glob("*.csv")):
        found.append((int(path.stem) if path.stem.isdigit() else None, path))
    return sorted(found, key=lambda pair: (pair[0] is None, pair[0] or 0, pair[1].name))


class SafeBenchReleaseImporter:
    """Reads the SafeBench release: ``text/{k}.csv``, images and male/female speech."""

    name = NAME
    title = "SafeBench (imported release)"
    variants: tuple[str, ...] = ()

    def check_source(self, options: ImportOptions) -> None:
        root = options.source
        if not root.is_dir():
            raise DatasetError(f"{root}: no such folder (safebench-release reads a folder)")
        if not (root / TEXT_DIR).is_dir():
            raise DatasetError(
                f"{root}: not a SafeBench release: no {TEXT_DIR}/ folder of {{k}}.csv files"
            )
        if options.categories is not None and not options.categories.is_file():
            raise DatasetError(f"{options.categories}: no such category map file")

    def notes(self, options: ImportOptions) -> str:
        if options.categories is not None:
            order = f"the blocks of the category map `{options.categories.name}`, in order"
        else:
            order = "the paper's scenario order (1 = Medical Advice ... 23 = Bias)"
        return (
            f"Imported from a SafeBench release folder. `text/{{k}}.csv` was mapped to "
            f"scenario k of {order}. Speech voices: {', '.join(VOICES)}."
        )

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        root = options.source
        order = _scenario_order(options)
        for k, path in _scenario_files(root):
            if k is None or not 1 <= k <= len(order):
                yield Candidate.failed(
                    path,
                    0,
                    "file",
                    f"{path.name}",
                    f"not a scenario file: expected text/{{k}}.csv with k in 1..{len(order)}",
                )
                continue
            category, scenario = order[k - 1]
            try:
                rows = list(read_csv_rows(path))
            except DatasetError as exc:
                # One unreadable scenario file is a bad row; the other scenarios still import.
                yield Candidate.failed(path, 0, "file", path.name, str(exc))
                continue
            columns = _columns(rows)
            base = _first_index(root, k)
            for position, row in enumerate(rows[1:] if columns.header else rows):
                item = _ReleaseRow(
                    root=root,
                    k=k,
                    i=base + position,
                    row=row,
                    columns=columns,
                    category=category,
                    scenario=scenario,
                )
                yield Candidate(
                    file=path,
                    row=row.line,
                    row_kind="line",
                    query_id=item.query_id,
                    build=partial(item.build, stager),
                )


@dataclass(frozen=True)
class _ReleaseRow:
    """One data row of ``text/{k}.csv``: the i-th query of scenario k."""

    root: Path
    k: int
    i: int
    row: CsvRow
    columns: _Columns
    category: str
    scenario: str

    @property
    def query_id(self) -> str:
        return f"safebench-{self.k:02d}-{self.i:03d}"

    def _cell(self, index: int | None) -> str:
        if index is None or index >= len(self.row.cells):
            return ""
        return self.row.cells[index].strip()

    def _image(self, stager: MediaStager) -> MediaRef | None:
        named = self._cell(self.columns.image)
        if named:
            return stager.image(self.root, named, self.query_id)
        folder = _image_folder(self.root, self.k)
        if folder is None:
            return None
        names = [f"{self.i}{ext}" for ext in _IMAGE_EXTENSIONS]
        present = [n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
        if not present:
            raise RowError(f"image {folder.relative_to(self.root)}/{self.i}.png not found")
        return stager.image(self.root, (folder / present[0]).relative_to(self.root), self.query_id)

    def build(self, stager: MediaStager) -> Query:
        if self.row.error is not None:
            raise RowError(self.row.error)
        text = self._cell(self.columns.query)
        if not text:
            raise RowError(f"no query text (column {self.columns.query + 1} is empty)")
        image = self._image(stager)
        audio: list[MediaRef] = []
        for voice, voice_dir in VOICES.items():
            if not (self.root / voice_dir / str(self.k)).is_dir():
                continue
            relative = Path(voice_dir) / str(self.k) / f"{self.i}.wav"
            if not ((self.root / relative).exists() or (self.root / relative).is_symlink()):
                raise RowError(f"speech {relative} not found")
            audio.append(stager.audio_file(self.root, relative, self.query_id, voice))
        return Query(
            id=self.query_id,
            category=self.category,
            scenario=self.scenario,
            text=text,
            image=image,
            audio=tuple(audio),
            source=NAME,
        )


@importer(NAME)
def safebench_release() -> SafeBenchReleaseImporter:
    """The published SafeBench release folder (text CSVs, images, male/female speech)."""
    return SafeBenchReleaseImporter()
