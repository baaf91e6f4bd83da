"""What the offline jurors were trained on, so a calibration can tell held-out items apart.

The harm judge was fine-tuned on GPTFuzz ``train.csv`` and half of HarmBench ``val_dev.json``:
its figure on those answers is a training figure, not agreement on unseen text. Its delta
records a digest of every labelled (request, answer) pair it trained on; ``calibrate`` reads
them (the file's header only: no torch) and scores the items no seat was trained on apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from safetensors import safe_open

from jury.study.labels import LabelledItem
from safebench.offline.harm_judge import DELTA_PATH


def pair_digest(request: str, answer: str) -> str:
    """A labelled pair's fingerprint (64 bits of SHA-256), as the trainer records it."""
    return hashlib.sha256(f"{request}\x00{answer}".encode()).hexdigest()[:16]


def delta_pairs(delta: Path) -> frozenset[str]:
    """The digests a harm-judge delta records (none for a delta trained before they were)."""
    with safe_open(str(delta), framework="numpy") as fh:
        info = json.loads((fh.metadata() or {}).get("info", "{}"))
    return frozenset(info.get("trained_pairs", ()))


TRAINED: dict[str, Callable[[], frozenset[str]]] = {
    "safebench/harm-judge": lambda: delta_pairs(DELTA_PATH),
}
"""Each offline juror trained on labelled answers, and how to read what it trained on."""


def trained_models(models: Iterable[str]) -> dict[str, frozenset[str]]:
    """Of ``models``, those that record training pairs, with their digests."""
    found = {name: TRAINED[name]() for name in dict.fromkeys(models) if name in TRAINED}
    return {name: pairs for name, pairs in found.items() if pairs}


def trained_on_items(models: Iterable[str], items: Sequence[LabelledItem]) -> dict[str, int]:
    """Of ``models``, each one trained on some of ``items``, with how many."""
    counts = {
        name: sum(pair_digest(item.question, item.answer) in pairs for item in items)
        for name, pairs in trained_models(models).items()
    }
    return {name: n for name, n in counts.items() if n}
