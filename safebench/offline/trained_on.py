"""What the offline jurors were trained on, so a calibration can tell held-out items apart.

The harm judge was fine-tuned on GPTFuzz ``train.csv`` and half of HarmBench ``val_dev.json``,
the embedding juror's head on GPTFuzz ``train.csv``: their figures on those answers are
training figures, not agreement on unseen text. Each records a digest of every labelled
(request, answer) pair it trained on; ``calibrate`` reads them (the harm judge's file header
only: no torch) and scores the items no model of the jury was trained on apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from jury.labels import LabelledItem
from kernel.errors import ConfigError
from safebench.offline.embedding_juror import HEAD_PATH
from safebench.offline.harm_judge import DELTA_PATH


def pair_digest(request: str, answer: str) -> str:
    """A labelled pair's fingerprint (64 bits of SHA-256), as the trainer records it."""
    return hashlib.sha256(f"{request}\x00{answer}".encode()).hexdigest()[:16]


def _recorded(
    path: Path, what: str, read: Callable[[Path], dict[str, Any]]
) -> frozenset[str] | None:
    try:
        info = read(path)
    except (OSError, ValueError, SafetensorError) as exc:
        raise ConfigError(f"{path}: cannot read what {what} was trained on: {exc}") from None
    pairs = info.get("trained_pairs")
    return None if pairs is None else frozenset(pairs)


def _delta_info(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="numpy") as fh:
        return dict(json.loads((fh.metadata() or {}).get("info", "{}")))


def delta_pairs(delta: Path) -> frozenset[str] | None:
    """The digests a harm-judge delta records; None for a delta trained before they were."""
    return _recorded(delta, "the harm judge", _delta_info)


def head_pairs(head: Path) -> frozenset[str] | None:
    """The digests the embedding juror's head records; None for a head from before them."""
    return _recorded(head, "the embedding juror", lambda p: json.loads(p.read_text("utf-8")))


TRAINED: dict[str, Callable[[], frozenset[str] | None]] = {
    "safebench/harm-judge": lambda: delta_pairs(DELTA_PATH),
    "safebench/embedding-juror": lambda: head_pairs(HEAD_PATH),
}
"""Each offline juror trained on labelled answers, and how to read what it trained on."""


def trained_models(models: Iterable[str]) -> dict[str, frozenset[str] | None]:
    """Of ``models``, those trained on labelled answers, with the digests they record (None:
    the file predates the record, so which items it saw is unknown)."""
    found = {name: TRAINED[name]() for name in dict.fromkeys(models) if name in TRAINED}
    return {name: pairs for name, pairs in found.items() if pairs is None or pairs}


def unrecorded_line(names: Iterable[str]) -> str:
    """What to say of models whose training answers are not recorded: not a word would let a
    training figure pass for a held-out one."""
    return (
        f"{', '.join(names)} records no list of the answers it was trained on (a file from "
        "before they were recorded): the figures above may include training items; retrain "
        "it to score them apart."
    )


def trained_on_items(
    models: Iterable[str], items: Sequence[LabelledItem]
) -> dict[str, int | None]:
    """Of ``models``, each one trained on some of ``items``, with how many (None: unknown)."""
    counts = {
        name: None if pairs is None
        else sum(pair_digest(item.question, item.answer) in pairs for item in items)
        for name, pairs in trained_models(models).items()
    }
    return {name: n for name, n in counts.items() if n is None or n}
