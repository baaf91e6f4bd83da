"""Generated tokens per second of an ``hf/…`` model against its micro-batch size.

The same number of concurrent requests goes through the real gateway and ``hf`` transport
at each batch size; each request generates exactly ``--new-tokens`` tokens (``ignore_eos``),
so the figures compare like with like. Without ``--model`` a small random-weight Llama is
built on the fly (nothing is downloaded); with it, any local checkpoint directory.

    .venv/bin/python bench/hf_tokens_per_s.py                       # CPU (and CUDA if present)
    .venv/bin/python bench/hf_tokens_per_s.py --model /models/qwen2-0.5b --devices cuda
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from agents.gateway import Gateway, GatewaySettings  # noqa: E402
from agents.local.stats import stats_for  # noqa: E402
from agents.spec import ModelSpec  # noqa: E402
from kernel.logs import configure_logging  # noqa: E402
from tests.agents.tiny_models import build_text_model  # noqa: E402

PROMPTS = [
    "describe the picture",
    "here is how to bake bread step by step",
    "the quick brown fox jumps over the lazy dog",
    "tell me what you see",
]


@dataclass(frozen=True)
class Row:
    device: str
    batch_size: int
    requests: int
    generate_calls: int
    tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


async def measure(model: str, device: str, batch_size: int, requests: int, new_tokens: int) -> Row:
    spec = ModelSpec(
        model=model,
        params={
            "device": device,
            "batch_size": batch_size,
            "max_wait_ms": 20,
            "max_new_tokens": new_tokens,
            "ignore_eos": True,
        },
    )
    gateway = Gateway(GatewaySettings(max_retries=0, timeout_s=600))
    try:
        # Warm up: load the weights (and CUDA kernels) outside the timed part.
        await gateway.complete(spec, [{"role": "user", "content": "hello"}], scope="warm")
        before = stats_for(model).snapshot()
        started = time.perf_counter()
        await asyncio.gather(
            *(
                gateway.complete(
                    spec,
                    [{"role": "user", "content": f"{PROMPTS[i % len(PROMPTS)]} {i}"}],
                    scope=f"{device}/{batch_size}/{i}",
                )
                for i in range(requests)
            )
        )
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    finally:
        await gateway.aclose()
    after = stats_for(model).snapshot()
    return Row(
        device,
        batch_size,
        requests,
        len(after.batches) - len(before.batches),
        after.completion_tokens - before.completion_tokens,
        seconds,
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| device | batch size | requests | generate calls | tokens | seconds | tokens/s "
        "| x batch 1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base: dict[str, float] = {}
    for row in rows:
        base.setdefault(row.device, row.tokens_per_s)
        lines.append(
            f"| {row.device} | {row.batch_size} | {row.requests} | {row.generate_calls} | "
            f"{row.tokens} | {row.seconds:.2f} | {row.tokens_per_s:,.0f} | "
            f"{row.tokens_per_s / base[row.device]:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a checkpoint directory (default: built)")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16")
    parser.add_argument("--requests", type=int, default=32, help="concurrent requests per size")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256, help="built model's hidden size")
    parser.add_argument("--layers", type=int, default=4, help="built model's layers")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    configure_logging()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.model or build_text_model(
            Path(scratch) / "bench-llama", hidden=args.hidden, layers=args.layers
        )
        model = f"hf/{directory.resolve()}"
        rows = [
            asyncio.run(measure(model, device, size, args.requests, args.new_tokens))
            for device in args.devices.split(",")
            for size in (int(s) for s in args.batch_sizes.split(","))
        ]
    print(
        f"{model if args.model else f'random Llama, hidden {args.hidden}, {args.layers} layers'}; "
        f"{args.new_tokens} new tokens per request; torch threads {torch.get_num_threads()}"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
