"""``safebench-release``: the published SafeBench layout of text, images and speech.

The release holds one CSV per scenario, ``text/{k}.csv`` (k = 1..23), one query per row;
the images ``{k}/{i}.png`` (or under ``images/{k}/``) and the speech
``audio_data_male/{k}/{i}.wav`` and ``audio_data_female/{k}/{i}.wav``, i being the row's
index among the data rows. Whether i counts from 0 or from 1 is read from the files present.

k maps to the paper's scenario order (``PAPER_TAXONOMY``, scenario 1 = Medical Advice);
``--categories`` replaces that order with a category map's blocks, the k-th block naming
scenario k. A folder of scenario k that is missing means that modality was not released for
k; a file missing inside a folder that exists is a bad row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from generation.importers import importer
from generation.importers.base import Candidate, ImportOptions, RowError
from generation.importers.category_map import load_category_map
from generation.importers.csv_rows import CsvRow, read_csv_rows
from generation.importers.media import MediaStager
from generation.taxonomy import PAPER_TAXONOMY
from safebench.errors import DatasetError
from safebench.records import MediaRef, Query

NAME = "safebench-release"
TEXT_DIR = "text"
VOICES: dict[str, str] = {"male": "audio_data_male", "female": "audio_data_female"}
"""Voice name -> the release's folder of that voice's speech."""
_QUERY_COLUMNS = ("query", "question", "prompt", "text", "instruction", "content")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _scenario_order(options: ImportOptions) -> list[tuple[str, str]]:
    if options.categories is not None:
        return load_category_map(options.categories).ordered()
    return [(category.name, scenario.name) for category, scenario in PAPER_TAXONOMY.scenarios()]


def _query_column(rows: list[CsvRow]) -> tuple[int, bool]:
    """(index of the column holding the query, whether the first row is a header)."""
    readable = [row for row in rows if row.error is None]
    if not readable:
        return 0, False
    first = [cell.strip().lower() for cell in readable[0].cells]
    for name in _QUERY_COLUMNS:
        if name in first:
            return first.index(name), readable[0] is rows[0]
    # No header: the query is the column with the most text (an index column is short).
    width = max(len(row.cells) for row in readable)
    totals = [
        sum(len(row.cells[c]) for row in readable if c < len(row.cells)) for c in range(width)
    ]
    return totals.index(max(totals)), False


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
            rows = list(read_csv_rows(path))
            column, has_header = _query_column(rows)
            base = _first_index(root, k)
            data_rows = rows[1:] if has_header else rows
            for position, row in enumerate(data_rows):
                i = base + position
                query_id = f"safebench-{k:02d}-{i:03d}"
                yield Candidate(
                    file=path,
                    row=row.line,
                    row_kind="line",
                    query_id=query_id,
                    build=self._builder(
                        root, k, i, row, column, query_id, category, scenario, stager
                    ),
                )

    @staticmethod
    def _builder(
        root: Path,
        k: int,
        i: int,
        row: CsvRow,
        column: int,
        query_id: str,
        category: str,
        scenario: str,
        stager: MediaStager,
    ) -> Callable[[], Query]:
        def build() -> Query:
            if row.error is not None:
                raise RowError(row.error)
            text = row.cells[column].strip() if column < len(row.cells) else ""
            if not text:
                raise RowError(f"no query text (column {column + 1} is empty)")
            image: MediaRef | None = None
            folder = _image_folder(root, k)
            if folder is not None:
                names = [f"{i}{ext}" for ext in _IMAGE_EXTENSIONS]
                present = [n for n in names if (folder / n).exists() or (folder / n).is_symlink()]
                if not present:
                    raise RowError(f"image {folder.relative_to(root)}/{i}.png not found")
                image = stager.image(root, (folder / present[0]).relative_to(root), query_id)
            audio: list[MediaRef] = []
            for voice, voice_dir in VOICES.items():
                if not (root / voice_dir / str(k)).is_dir():
                    continue
                relative = Path(voice_dir) / str(k) / f"{i}.wav"
                if not ((root / relative).exists() or (root / relative).is_symlink()):
                    raise RowError(f"speech {relative} not found")
                audio.append(stager.audio_file(root, relative, query_id, voice))
            return Query(
                id=query_id,
                category=category,
                scenario=scenario,
                text=text,
                image=image,
                audio=tuple(audio),
                source=NAME,
            )

        return build


@importer(NAME)
def safebench_release() -> SafeBenchReleaseImporter:
    """The published SafeBench release folder (text CSVs, images, male/female speech)."""
    return SafeBenchReleaseImporter()
