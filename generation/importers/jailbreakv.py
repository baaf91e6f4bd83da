"""``jailbreakv``: JailBreakV-28K (Luo et al., COLM 2024) in its published layout.

The dataset folder holds ``JailBreakV_28K.csv`` (columns ``id, jailbreak_query,
redteam_query, format, policy, image_path, from, selected_mini, transfer_from_llm``; each
``image_path`` relative to that folder) and ``RedTeam_2K.csv`` (``id, question, from,
policy``), the 2,000 harmful queries the jailbreaks were built from, without images.

Each JailBreakV row becomes a query whose text is its ``jailbreak_query`` and whose image is
its ``image_path`` (``jbv-{id}``); each RedTeam-2K row a text query (``rt2k-{id}``). The
policy (16 of them) is kept as the scenario and given a category of the paper's taxonomy
(:data:`POLICY_CATEGORIES`; a policy not listed is its own category). ``--variant`` picks one
part: ``28k`` (every JailBreakV row), ``mini`` (the rows with ``selected_mini`` true, the
JailBreakV-mini subset) or ``redteam2k``; the default imports ``28k`` and ``redteam2k``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from generation.importers.base import Candidate, ImportOptions
from generation.importers.csv_rows import CsvRow, read_csv_rows
from generation.importers.media import MediaStager, RowError
from generation.importers.registry import importer
from kernel.errors import DatasetError
from kernel.records import Query

NAME = "jailbreakv"
JAILBREAK_FILE = "JailBreakV_28K.csv"
REDTEAM_FILE = "RedTeam_2K.csv"
_JAILBREAK_COLUMNS = ("id", "jailbreak_query", "policy", "image_path")
_REDTEAM_COLUMNS = ("id", "question", "policy")

POLICY_CATEGORIES: dict[str, str] = {
    "illegal activity": "Illegal & Criminal Behavior",
    "violence": "Violence",
    "hate speech": "Inappropriate Speech",
    "malware": "Cybersecurity",
    "physical harm": "Violence",
    "economic harm": "Ethics",
    "fraud": "Illegal & Criminal Behavior",
    "child abuse": "Illegal & Criminal Behavior",
    "animal abuse": "Ethics",
    "political sensitivity": "Inappropriate Opinions",
    "privacy violation": "Confidential Information",
    "tailored unlicensed advice": "Consultation",
    "health consultation": "Consultation",
    "government decision": "Inappropriate Opinions",
    "unethical behavior": "Ethics",
    "bias": "Inappropriate Opinions",
}
"""JailBreakV's safety policies (lower case) -> the paper's category; the policy is kept as
the scenario."""


def _root(source: Path) -> Path:
    return source.parent if source.is_file() else source


def _parts(options: ImportOptions) -> list[str]:
    if options.variant is not None:
        return [options.variant]
    return ["28k", "redteam2k"]


class JailBreakVImporter:
    """Reads JailBreakV-28K's CSV with its images, and the RedTeam-2K queries."""

    name = NAME
    title = "JailBreakV-28K (imported)"
    variants: tuple[str, ...] = ("28k", "mini", "redteam2k")

    def check_source(self, options: ImportOptions) -> None:
        root = _root(options.source)
        if not options.source.exists():
            raise DatasetError(
                f"{options.source}: no such folder (jailbreakv reads the folder "
                f"holding {JAILBREAK_FILE} and {REDTEAM_FILE})"
            )
        wanted = [REDTEAM_FILE if p == "redteam2k" else JAILBREAK_FILE for p in _parts(options)]
        if not any((root / name).is_file() for name in wanted):
            raise DatasetError(
                f"{root}: not a JailBreakV-28K folder: neither {' nor '.join(wanted)} is there"
            )

    def notes(self, options: ImportOptions) -> str:
        return (
            f"Imported from JailBreakV-28K ({', '.join(_parts(options))}): `jailbreak_query` "
            "with its image for JailBreakV rows, `question` (text only) for RedTeam-2K. The "
            "policy is the scenario; its category is SafeBench's map of JailBreakV's 16 "
            "policies onto the paper's categories."
        )

    def candidates(self, options: ImportOptions, stager: MediaStager) -> Iterator[Candidate]:
        root = _root(options.source)
        for part in _parts(options):
            redteam = part == "redteam2k"
            path = root / (REDTEAM_FILE if redteam else JAILBREAK_FILE)
            if not path.is_file():
                why = f"file not found: the {part} part was not imported"
                if options.variant is None:
                    why += " (--variant 28k or redteam2k imports one part alone)"
                yield Candidate.failed(path, 0, "file", path.name, why)
                continue
            rows = iter(read_csv_rows(path))
            columns, problem = _header(path, next(rows, None), redteam, mini=part == "mini")
            if columns is None:
                yield Candidate.failed(path, 0, "file", path.name, problem)
                continue
            for row in rows:
                cell = _cells(row, columns)
                if part == "mini" and cell("selected_mini").lower() not in ("true", "1", "yes"):
                    continue
                prefix = "rt2k" if redteam else "jbv"
                key = cell("id")
                query_id = f"{prefix}-{key}" if key else f"{prefix}-line-{row.line}"
                yield Candidate(
                    file=path,
                    row=row.line,
                    row_kind="line",
                    query_id=query_id,
                    build=_builder(root, row, cell, query_id, redteam, stager),
                )


def _header(
    path: Path, header_row: CsvRow | None, redteam: bool, *, mini: bool = False
) -> tuple[dict[str, int] | None, str]:
    """The column positions, or None and why the file is not the expected one (the mini
    part needs its ``selected_mini`` column: without it no row would be chosen)."""
    if header_row is None:
        return None, "empty CSV file; expected a header row"
    if header_row.error is not None:
        return None, f"line {header_row.line}: header {header_row.error}"
    header = [cell.strip().lower() for cell in header_row.cells]
    required = _REDTEAM_COLUMNS if redteam else _JAILBREAK_COLUMNS
    if mini and not redteam:
        required = (*required, "selected_mini")
    missing = [name for name in required if name not in header]
    if missing:
        which = "RedTeam-2K" if redteam else "JailBreakV-28K"
        return None, (
            f"not a {which} file: line {header_row.line} lacks column(s) {', '.join(missing)}; "
            f"found {', '.join(header) or 'none'}"
        )
    return {name: index for index, name in enumerate(header)}, ""


def _cells(row: CsvRow, columns: dict[str, int]) -> Callable[[str], str]:
    def cell(name: str) -> str:
        index = columns.get(name)
        if index is None or index >= len(row.cells):
            return ""
        return row.cells[index].strip()

    return cell


def _builder(
    root: Path,
    row: CsvRow,
    cell: Callable[[str], str],
    query_id: str,
    redteam: bool,
    stager: MediaStager,
) -> Callable[[], Query]:
    def build() -> Query:
        if row.error is not None:
            raise RowError(row.error)
        field = "question" if redteam else "jailbreak_query"
        text = cell(field)
        if not text:
            raise RowError(f"no {field} text")
        policy = cell("policy")
        if not policy:
            raise RowError("no policy")
        category = POLICY_CATEGORIES.get(policy.lower(), policy)
        image = None
        if not redteam:
            image_path = cell("image_path")
            if not image_path:
                raise RowError("no image_path")
            image = stager.image(root, image_path, query_id)
        return Query(
            id=query_id,
            category=category,
            scenario=policy,
            text=text,
            image=image,
            source=NAME,
        )

    return build


@importer(NAME)
def jailbreakv() -> JailBreakVImporter:
    """JailBreakV-28K's CSV with image paths, and the RedTeam-2K text queries."""
    return JailBreakVImporter()
