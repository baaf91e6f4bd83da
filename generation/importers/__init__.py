"""Importers for published benchmarks, one registered factory per format.

``safebench dataset import FORMAT SOURCE --out DIR`` looks the format up here. Each factory
returns an ``Importer`` (see ``generation.importers.base``); ``run_import`` runs it. The
format modules register themselves in ``generation.importers.registry`` when imported, and
this is the one place that imports them all.
"""

from __future__ import annotations

from generation.importers import (
    figstep,
    inspect_log,
    jailbreakv,
    json_list,
    mm_safetybench,
    promptfoo_results,
    safebench_release,
    vlguard,
)
from generation.importers.base import (
    Candidate,
    Importer,
    ImportFailed,
    ImportIssue,
    ImportOptions,
    ImportReport,
)
from generation.importers.media import RowError
from generation.importers.registry import IMPORTER_KIND, importer
from generation.importers.runner import run_import
from kernel.registry import lookup, names

FORMATS = (
    figstep,
    inspect_log,
    jailbreakv,
    json_list,
    mm_safetybench,
    promptfoo_results,
    safebench_release,
    vlguard,
)
"""The format modules, each registered under its name when imported above."""


def get_importer(name: str) -> Importer:
    """The importer for format ``name``; ConfigError listing the known formats otherwise."""
    factory = lookup(IMPORTER_KIND, name)
    made: Importer = factory()
    return made


def importer_names() -> list[str]:
    """Every registered format name, sorted."""
    return names(IMPORTER_KIND)


__all__ = [
    "FORMATS",
    "IMPORTER_KIND",
    "Candidate",
    "ImportFailed",
    "ImportIssue",
    "ImportOptions",
    "ImportReport",
    "Importer",
    "RowError",
    "get_importer",
    "importer",
    "importer_names",
    "run_import",
]
