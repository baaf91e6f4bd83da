"""The media step's ledger: which file each query's medium became, and from what inputs.

Each rendered file is noted (path, digest, and a fingerprint of what made it: text, models,
rounds, size, voice) in ``.media-manifest.jsonl`` beside the dataset. A rerun whose inputs
fingerprint the same and whose file still has its digest reuses the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import structlog

from agents.spec import ModelSpec
from kernel.records import MediaRef, sha256_hex

log = structlog.get_logger(__name__)

MANIFEST_FILE = ".media-manifest.jsonl"
"""Per-dataset record of rendered files: path, digest and the fingerprint of their inputs."""
# Bump when the rendering changes in a way the settings do not show, so files made by an
# older version are rendered again rather than reused.
_RENDER_VERSION = 1


def spec_name(spec: ModelSpec | None) -> str | None:
    return None if spec is None else f"{spec.model}@{spec.api_base or ''}"


def inputs_fingerprint(**parts: Any) -> str:
    body = json.dumps({"v": _RENDER_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class Manifest:
    """The rendered-file ledger of one dataset (last line per path wins)."""

    def __init__(self, root: Path) -> None:
        self.path = root / MANIFEST_FILE
        self.entries: dict[str, dict[str, str]] = {}
        if self.path.exists():
            for lineno, line in enumerate(self.path.read_text("utf-8").splitlines(), 1):
                try:
                    entry = json.loads(line)
                    self.entries[str(entry["path"])] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    # A torn last line from a killed run: that file is simply made again.
                    log.warning("media_manifest_bad_line", file=str(self.path), line=lineno)

    def fresh(self, root: Path, relative: str, fingerprint: str) -> bool:
        """Whether ``relative`` exists with the digest recorded for this fingerprint."""
        entry = self.entries.get(relative)
        if entry is None or entry.get("fingerprint") != fingerprint:
            return False
        path = root / relative
        try:
            return sha256_hex(path.read_bytes()) == entry.get("sha256")
        except OSError:
            return False

    def note(self, relative: str, data: bytes, fingerprint: str) -> None:
        entry = {"path": relative, "sha256": sha256_hex(data), "fingerprint": fingerprint}
        self.entries[relative] = entry
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def ref(self, relative: str, mime_type: str, voice: str | None = None) -> MediaRef:
        """The reference of a file this ledger has just written or checked fresh.

        Built from the recorded digest, so a reused file is hashed once, not twice; the
        path is ours (``file_stem`` names), so it is relative and inside the dataset.
        """
        sha = self.entries[relative]["sha256"]
        return MediaRef(path=relative, sha256=sha, mime_type=mime_type, voice=voice)
