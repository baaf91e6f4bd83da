"""The importer registry: each format module registers its factory here under its name.

Format modules import only this (never the package), so the package can import them all in
one place (``generation.importers``) without a cycle.
"""

from __future__ import annotations

from kernel.registry import registrar

IMPORTER_KIND = "importer"
importer = registrar(IMPORTER_KIND)
"""Decorator registering an importer factory under its format name."""
