"""Importers for published benchmarks, one registered factory per format.

``safebench dataset import FORMAT SOURCE --out DIR`` looks the format up here. Each factory
returns an ``Importer`` (see ``generation.importers.base``); ``run_import`` runs it.
"""

from __future__ import annotations

from generation.importers.base import (
    Candidate,
    Importer,
    ImportFailed,
    ImportIssue,
    ImportOptions,
    ImportReport,
    RowError,
)
from safebench.core.registry import lookup, names, registrar

IMPORTER_KIND = "importer"
importer = registrar(IMPORTER_KIND)
"""Decorator registering an importer factory under its format name."""


def get_importer(name: str) -> Importer:
    """The importer for format ``name``; ConfigError listing the known formats otherwise."""
    factory = lookup(IMPORTER_KIND, name)
    made: Importer = factory()
    return made


def importer_names() -> list[str]:
    """Every registered format name, sorted."""
    return names(IMPORTER_KIND)


# Imported for their registration side effect, after ``importer`` exists.
from generation.importers import figstep, json_list, safebench_release  # noqa: E402
from generation.importers.runner import run_import  # noqa: E402

__all__ = [
    "IMPORTER_KIND",
    "Candidate",
    "ImportFailed",
    "ImportIssue",
    "ImportOptions",
    "ImportReport",
    "Importer",
    "RowError",
    "figstep",
    "get_importer",
    "importer",
    "importer_names",
    "json_list",
    "run_import",
    "safebench_release",
]
