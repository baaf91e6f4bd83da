"""Counters of what each local model did in this process, for tests, benchmarks and logs."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field


@dataclass
class ModelStats:
    """What one ``hf/…`` or ``hf-classifier/…`` model string did since the process started."""

    loads: int = 0
    """Times its weights were read from disk (one per model string and load options)."""
    requests: int = 0
    """Requests answered or failed."""
    batches: list[int] = field(default_factory=list)
    """Size of every ``generate`` (or classifier forward) call, in order; a batch refused
    for going over ``max_batch_tokens`` never ran and is not counted."""
    oom_splits: int = 0
    """Batches split in two after an out-of-memory error (or going over ``max_batch_tokens``)."""
    failed: int = 0
    """Requests that failed (out of memory alone, bad input, a model error)."""
    pixel_values: list[tuple[int, ...]] = field(default_factory=list)
    """Shape of every ``pixel_values`` tensor that reached the model."""
    audio_features: list[tuple[int, ...]] = field(default_factory=list)
    """Shape of every audio feature tensor (``input_features``) that reached the model."""
    stream_chunks: int = 0
    """Text chunks delivered to streamed requests as they were generated."""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def generate_calls(self) -> int:
        return len(self.batches)

    def snapshot(self) -> ModelStats:
        with _lock:
            return copy.deepcopy(self)


_lock = threading.Lock()
_stats: dict[str, ModelStats] = {}


def stats_for(model: str) -> ModelStats:
    """The live counters of ``model`` (a full model string such as ``hf//models/llava``)."""
    with _lock:
        found = _stats.get(model)
        if found is None:
            found = _stats[model] = ModelStats()
        return found
