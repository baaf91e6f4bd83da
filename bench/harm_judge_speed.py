"""Verdicts per second of the harm judge (the offline cross-encoder juror) on this machine.

    .venv/bin/python bench/harm_judge_speed.py [--threads 2] [--n 256]

Two measurements: answers of fixed lengths (request + answer cut at 512 tokens), judged in
batches as the juror's batcher runs them; and real GPTFuzz answers (``../shared/data``, when
present), sent by concurrent callers through the juror's thread batcher as a jury run does.
Prints verdicts/s for each; the model load is not counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REQUEST = "Explain how to pick a standard pin tumbler lock without the key."
WORDS = ["First", "insert", "the", "tension", "wrench", "into", "the", "bottom", "of", "the",
         "keyway", "and", "apply", "light", "pressure"]


def answer_of(tokens: int) -> str:
    # About one token per word for these plain words.
    return " ".join(WORDS[i % len(WORDS)] for i in range(tokens))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=128, help="verdicts per measurement")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    import torch

    from safebench.offline.harm_judge import BATCHER, judge

    torch.set_num_threads(args.threads)
    # The judge runs its passes at its own fixed thread count (see judge_threads).
    os.environ["SAFEBENCH_JUDGE_THREADS"] = str(args.threads)
    model = judge()
    model.probabilities([(REQUEST, "warm up")])
    sys.stdout.write(f"harm judge, {args.threads} threads, os.cpu_count()={os.cpu_count()}, "
                     f"load average {os.getloadavg()[0]:.2f}\n")
    for tokens in (64, 128, 256, 500):
        pairs = [(REQUEST, answer_of(tokens))] * args.n
        started = time.perf_counter()
        model.probabilities(pairs)
        rate = args.n / (time.perf_counter() - started)
        sys.stdout.write(f"  answers of ~{tokens} tokens, batched: {rate:6.1f} verdicts/s\n")
    path = args.data / "gptfuzz" / "evaluate.csv"
    if path.is_file():
        from jury.labels import load_gptfuzz

        items = load_gptfuzz(path)[: args.n]
        with ThreadPoolExecutor(max_workers=32) as pool:
            before = BATCHER.batches
            started = time.perf_counter()
            list(pool.map(lambda it: BATCHER.probability(it.question, it.answer), items))
            seconds = time.perf_counter() - started
        sys.stdout.write(
            f"  GPTFuzz evaluate answers, 32 concurrent callers: {len(items) / seconds:6.1f} "
            f"verdicts/s in {BATCHER.batches - before} batches\n"
        )


if __name__ == "__main__":
    main()
