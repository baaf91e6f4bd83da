"""The viewer on large runs: seconds per page of ``safebench serve DIR`` over two 100k stores.

Generates a store of N cases (tests/support/big_store.py: five jurors, every 7th case split
and deliberated; 100k cases is ~340 MB and ~15 s to write) or reuses one given with
``--store``, copies it as a second run with every 9th verdict turned (a rejudge under another
rule would), and serves the folder holding both with the real viewer app over HTTP on
127.0.0.1. It times each request ``--repeat`` times (min and median): the run list, one run's
numbered pages and filters, a case page with its previous/next case in a filtered list, and
the comparison of the two runs (flips only, all cases, a deep page, the side-by-side case).
The first visit of a run (its case index, one SQLite pass), of the run list (each store's
counts, one pass each) and of a comparison (its counts and page starts, one join pass) are
timed apart. Target on a quiet machine: <= 0.5 s per page at 100k cases. The figures carry
the load average and the process's peak RSS (the comparison is paged in SQL, never loaded).

    .venv/bin/python bench/viewer_scale.py                      # 100k cases
    .venv/bin/python bench/viewer_scale.py --cases 20000 --repeat 9
    .venv/bin/python bench/viewer_scale.py --store /tmp/big.sqlite   # reuse (or keep) it
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from common import load_note, quiet_logs  # type: ignore[import-not-found]

TARGET_S = 0.5
TURNED = 9
"""Every TURNED-th case's verdict is the other way in the second run."""


async def timed(fetch: Callable[[], Awaitable[int]], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        status = await fetch()
        times.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"the viewer answered {status}")
    return min(times), statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(folder: Path, cases: int, repeat: int) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from safebench.audit.viewer import make_app
    from tests.support.big_store import case_id

    async with TestClient(TestServer(make_app(folder), host="127.0.0.1")) as client:

        def get(url: str) -> Callable[[], Awaitable[int]]:
            async def fetch() -> int:
                response = await client.get(url)
                await response.read()
                return response.status

            return fetch

        async def once(name: str, url: str) -> None:
            started = time.perf_counter()
            if await get(url)() != 200:
                raise SystemExit(f"the viewer answered no page for {url}")
            print(f"{name}: {time.perf_counter() - started:.2f} s")

        run = "/runs/a.sqlite"
        compare = "/compare?a=a.sqlite&b=b.sqlite"
        await once("first run list (counts each store)", "/")
        await once("first list page of a run (builds its case index)", f"{run}/")
        await once("first comparison (counts it, notes its page starts)", compare)
        await once("first comparison, all cases", compare + "&show=all")
        middle = case_id(cases // 2 - cases // 2 % 63)  # split, flipped in the second run
        last_page = -(-cases // 100)
        requests = {
            "run list": "/",
            "list page 1": f"{run}/",
            "list page 50 (numbered)": f"{run}/?page=50",
            "filter target+verdict, p2": f"{run}/?target=t1&verdict=harmful&page=2",
            "filter split juries (=1)": f"{run}/?disagreement=1",
            "case page": f"{run}/case?id={case_id(7)}",
            "case page, prev/next": f"{run}/case?id={middle}&target=t0&disagreement=1",
            "compare flips, page 1": compare,
            "compare flips, page 40": compare + "&page=40",
            f"compare all, page {last_page}": compare + f"&show=all&page={last_page}",
            "compare case, side by side": f"/compare/case?a=a.sqlite&b=b.sqlite&id={middle}",
        }
        worst = 0.0
        for name, url in requests.items():
            low, median = await timed(get(url), repeat)
            worst = max(worst, median)
            print(f"{name:30s} min {low:.3f} s  median {median:.3f} s")
        started = time.perf_counter()
        await get(f"{run}/?text=zanzibar")()
        print(f"text filter, first ask (scans the store): {time.perf_counter() - started:.2f} s")
        low, median = await timed(get(f"{run}/?text=zanzibar"), repeat)
        print(f"{'text filter, next pages':30s} min {low:.3f} s  median {median:.3f} s")
        verdict = "within" if worst <= TARGET_S else "OVER"
        print(
            f"slowest page median {worst:.3f} s: {verdict} the {TARGET_S} s target | "
            f"peak RSS {peak_rss_mb():.0f} MB | {load_note()}"
        )


def turned_copy(store: Path, out: Path) -> None:
    """The store as a second run: every TURNED-th case's verdict the other way."""
    with sqlite3.connect(store) as src, sqlite3.connect(out) as dst:
        src.backup(dst)
    src.close()
    with sqlite3.connect(out) as db:
        db.execute("UPDATE run SET name = 'big-turned'")
        db.execute(
            "UPDATE verdicts SET harmful = 1 - harmful WHERE "
            f"CAST(substr(case_id, 6, 6) AS INTEGER) % {TURNED} = 0"
        )
    db.close()


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
        cases = int(sqlite3.connect(store).execute("SELECT COUNT(*) FROM cases").fetchone()[0])
        folder = Path(scratch) / "runs"
        folder.mkdir()
        with sqlite3.connect(store) as src, sqlite3.connect(folder / "a.sqlite") as dst:
            src.backup(dst)  # through SQLite: whatever a reused store's WAL holds comes too
        started = time.perf_counter()
        turned_copy(store, folder / "b.sqlite")
        print(
            f"second run (every {TURNED}th verdict turned) in {time.perf_counter() - started:.1f} s"
        )
        print(load_note())
        asyncio.run(measure(folder, cases, args.repeat))


if __name__ == "__main__":
    main()
