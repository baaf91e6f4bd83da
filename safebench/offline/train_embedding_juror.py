"""Train the embedding juror's head on GPTFuzz's human labels; report it on held-out sets.

    python -m safebench.offline.train_embedding_juror --data ../shared/data

Trains on gptfuzz/train.csv, reports accuracy and F1 on gptfuzz/evaluate.csv and on
harmbench/val_dev.json (human majority), and writes safebench/offline/embedding_head.json.
Embeddings are cached next to the output so that re-training the head is quick.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import structlog

from jury.labels import LabelledItem, load_gptfuzz, load_harmbench
from jury.metrics.confusion import Confusion
from safebench.offline.embedding import encoder
from safebench.offline.embedding_juror import FEATURE_VERSION, HEAD_PATH, pair_features
from safebench.offline.trained_on import pair_digest

log = structlog.get_logger(__name__)

Item = tuple[str, str, int]  # (request, answer, label)


def as_items(items: list[LabelledItem]) -> list[Item]:
    """The shared label loaders' items as (request, answer, label) triples."""
    return [(item.question, item.answer, int(item.label)) for item in items]


def featurize(items: list[Item], cache: Path) -> np.ndarray:
    """Features of every item; the embeddings (not the features) are cached, so the head's
    features can change without embedding everything again."""
    if cache.is_file():
        stored = np.load(cache)
        q_vecs, a_vecs = stored["q"], stored["a"]
    if not cache.is_file() or len(a_vecs) != len(items):
        started = time.monotonic()
        enc = encoder()
        import torch

        torch.set_num_threads(os.cpu_count() or 1)  # big batches do use every core
        unique_q = sorted({q for q, _, _ in items})
        by_q = dict(zip(unique_q, enc.encode(unique_q), strict=True))
        q_vecs = np.asarray([by_q[q] for q, _, _ in items])
        a_vecs = enc.encode([a for _, a, _ in items])
        log.info("embedded", items=len(items), seconds=round(time.monotonic() - started, 1))
        np.savez(cache, q=q_vecs, a=a_vecs)
    return np.asarray(
        [pair_features(q_vecs[i], a_vecs[i], a) for i, (_, a, _) in enumerate(items)],
        dtype="float32",
    )


def train_head(
    x: np.ndarray, y: np.ndarray, l2: float
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    import torch

    mean = x.mean(0)
    scale = x.std(0) + 1e-6
    xt = torch.tensor((x - mean) / scale)
    yt = torch.tensor(y, dtype=torch.float32)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    # Weigh classes equally: GPTFuzz is 27% harmful, and a judge must not learn the base rate.
    pos = float(yt.mean())
    weights = torch.where(yt > 0.5, 0.5 / pos, 0.5 / (1 - pos))
    optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = xt @ w + b
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(
            logits, yt, reduction="none") * weights).mean() + l2 * (w * w).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach().numpy(), float(b.detach()), mean, scale


def evaluate(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    counts = Confusion.of(zip((p >= 0.5).tolist(), (y == 1).tolist(), strict=True))
    return {"accuracy": round(counts.accuracy, 4), "f1": round(counts.f1, 4), "n": counts.n}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("runs/embedding-cache"))
    parser.add_argument("--out", type=Path, default=HEAD_PATH)
    parser.add_argument("--l2", type=float, default=0.1)
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    sets = {
        "gptfuzz_train": as_items(load_gptfuzz(args.data / "gptfuzz" / "train.csv")),
        "gptfuzz_evaluate": as_items(load_gptfuzz(args.data / "gptfuzz" / "evaluate.csv")),
        "harmbench_val_dev": as_items(load_harmbench(args.data / "harmbench" / "val_dev.json")),
    }
    features = {name: featurize(items, args.cache / f"{name}.npz") for name, items in sets.items()}
    labels = {name: np.asarray([y for *_, y in items]) for name, items in sets.items()}
    w, b, mean, scale = train_head(features["gptfuzz_train"], labels["gptfuzz_train"], args.l2)
    metrics = {}
    for name in ("gptfuzz_evaluate", "harmbench_val_dev"):
        z = ((features[name] - mean) / scale) @ w + b
        metrics[name] = evaluate(1 / (1 + np.exp(-z)), labels[name])
    args.out.write_text(json.dumps({
        "feature_version": FEATURE_VERSION, "l2": args.l2, "bias": b,
        "weights": [round(float(v), 6) for v in w], "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale], "trained_on": "gptfuzz/train.csv",
        "metrics": metrics,
        # The labelled answers it saw, so `safebench calibrate` can score the others apart.
        "trained_pairs": sorted({pair_digest(q, a) for q, a, _ in sets["gptfuzz_train"]}),
    }), encoding="utf-8")
    sys.stdout.write(json.dumps(metrics, indent=2) + "\n")


if __name__ == "__main__":
    main()
