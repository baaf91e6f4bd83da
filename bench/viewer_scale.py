"""The viewer on a large run: seconds per list page, filter, text search and case page.

Generates a store of N cases (tests/support/big_store.py: five jurors, every 7th case split
and deliberated; 100k cases is ~340 MB and ~15 s to write) or reuses one given with
``--store``, serves it with the real viewer app over HTTP on 127.0.0.1, and times each
request ``--repeat`` times (min and median). The first list request also builds the case
index (one SQLite pass over the store), so it is timed apart. Target on a quiet machine:
<= 0.5 s per page at 100k cases. The figures carry the load average.

    .venv/bin/python bench/viewer_scale.py                      # 100k cases
    .venv/bin/python bench/viewer_scale.py --cases 20000 --repeat 9
    .venv/bin/python bench/viewer_scale.py --store /tmp/big.sqlite   # reuse (or keep) it
"""

from __future__ import annotations

import argparse
import asyncio
import html
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from common import load_note, quiet_logs  # type: ignore[import-not-found]

TARGET_S = 0.5


async def timed(fetch: Callable[[], Awaitable[int]], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        status = await fetch()
        times.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"the viewer answered {status}")
    return min(times), statistics.median(times)


async def measure(store: Path, repeat: int) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from safebench.audit.viewer import make_app
    from tests.support.big_store import case_id

    async with TestClient(TestServer(make_app(store), host="127.0.0.1")) as client:

        def get(url: str) -> Callable[[], Awaitable[int]]:
            async def fetch() -> int:
                response = await client.get(url)
                await response.read()
                return response.status

            return fetch

        started = time.perf_counter()
        await get("/")()
        print(f"first list page (builds the case index): {time.perf_counter() - started:.2f} s")
        first = await client.get("/")
        body = await first.text()
        cursor = body.split('id="next-page"')[0].rsplit('href="', 1)[-1].split('"')[0]
        requests = {
            "list page 1": "/",
            "list page 2 (keyset)": html.unescape(cursor) if cursor.startswith("/?") else "/",
            "filter target+verdict": "/?target=t1&verdict=harmful",
            "filter split juries": "/?disagreement=yes",
            "case page": f"/case?id={case_id(7)}",
        }
        worst = 0.0
        for name, url in requests.items():
            low, median = await timed(get(url), repeat)
            worst = max(worst, median)
            print(f"{name:28s} min {low:.3f} s  median {median:.3f} s")
        started = time.perf_counter()
        await get("/?text=zanzibar")()
        print(f"text filter, first ask (scans the store): {time.perf_counter() - started:.2f} s")
        low, median = await timed(get("/?text=zanzibar"), repeat)
        print(f"{'text filter, next pages':28s} min {low:.3f} s  median {median:.3f} s")
        verdict = "within" if worst <= TARGET_S else "OVER"
        print(
            f"slowest page median {worst:.3f} s: {verdict} the {TARGET_S} s target | {load_note()}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", type=Path, help="Reuse this store (written if missing)")
    args = parser.parse_args()
    quiet_logs()
    from tests.support.big_store import generate_store

    with tempfile.TemporaryDirectory() as scratch:
        store = args.store or Path(scratch) / "big.sqlite"
        if not store.exists():
            started = time.perf_counter()
            generate_store(store, args.cases)
            print(f"wrote {args.cases} cases in {time.perf_counter() - started:.1f} s")
        print(load_note())
        asyncio.run(measure(store, args.repeat))


if __name__ == "__main__":
    main()
