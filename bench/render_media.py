"""Offline media for the SafeBench release: images and two-voice speech for 2,300 prompts.

The 2,300 prompts of ``../shared/data/safebench/safebench.json`` (23 blocks of 100, mapped to
scenarios by ``categories.json``) are imported into a temporary dataset with the project's
``json-list`` importer, then ``render_media`` makes their typographic images (no image model,
no critic) and, as a separate timed step, their speech in two voices with espeak-ng. A third
pass over the finished dataset measures a resume (it must render nothing).

    .venv/bin/python bench/render_media.py                  # all 2,300
    .venv/bin/python bench/render_media.py --limit 230      # a subset, extrapolated to 2,300

It prints images/s, speech files/s, wall time per step and in all, and the dataset's size on
disk, with the machine's load average (other work on the machine slows every figure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import load_note, quiet_logs  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "safebench"
RELEASE_SIZE = 2300


def build_dataset(out: Path, limit: int | None) -> int:
    """Import the release's prompts into ``out``; the number of queries written."""
    from generation.importers import get_importer
    from generation.importers.base import ImportOptions
    from generation.importers.runner import run_import

    options = ImportOptions(
        source=DATA / "safebench.json",
        out=out,
        categories=DATA / "categories.json",
        limit=limit,
    )
    report = run_import(get_importer("json-list"), options)
    return int(report.imported) if hasattr(report, "imported") else _count(out)


def _count(root: Path) -> int:
    from generation.dataset import iter_queries

    return sum(1 for _ in iter_queries(root))


def _disk_bytes(root: Path, folder: str) -> int:
    return sum(p.stat().st_size for p in (root / folder).rglob("*") if p.is_file())


async def _render(root: Path, *, images: bool, audio: bool, processes: int) -> object:
    from agents.gateway import Gateway
    from generation.dataset import iter_queries, write_dataset
    from generation.media import MediaSettings, render_media

    queries = list(iter_queries(root))
    settings = MediaSettings(images=images, audio=audio, speech_processes=processes)
    result = await render_media(root, queries, settings, Gateway())
    write_dataset(root, result.queries)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 2, help="espeak-ng processes at once"
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the dataset here")
    args = parser.parse_args()
    if not (DATA / "safebench.json").exists():
        raise SystemExit(f"{DATA / 'safebench.json'} is missing; see ../shared/data/README.md")
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed: run `make system-deps`")
    quiet_logs()

    work = Path(tempfile.mkdtemp(prefix="safebench-media-bench-"))
    root = args.keep or work / "dataset"
    try:
        started = time.perf_counter()
        count = build_dataset(root, args.limit)
        import_s = time.perf_counter() - started
        print(f"imported {count} prompts in {import_s:.1f}s ({load_note()})")
        # Imported before the clocks start: litellm's import alone takes seconds.
        import generation.media  # noqa: F401

        t0 = time.perf_counter()
        images = asyncio.run(_render(root, images=True, audio=False, processes=args.processes))
        image_s = time.perf_counter() - t0
        print(
            f"images: {images.images_rendered} in {image_s:.1f}s = "  # type: ignore[attr-defined]
            f"{images.images_rendered / image_s:.1f} images/s ({load_note()})"  # type: ignore[attr-defined]
        )

        t0 = time.perf_counter()
        speech = asyncio.run(_render(root, images=False, audio=True, processes=args.processes))
        audio_s = time.perf_counter() - t0
        files = speech.audio_rendered  # type: ignore[attr-defined]
        print(
            f"speech: {files} files (2 voices) in {audio_s:.1f}s = {files / audio_s:.1f} "
            f"files/s with {args.processes} espeak-ng processes ({load_note()})"
        )

        t0 = time.perf_counter()
        again = asyncio.run(_render(root, images=True, audio=True, processes=args.processes))
        resume_s = time.perf_counter() - t0
        rendered = again.images_rendered + again.audio_rendered  # type: ignore[attr-defined]
        print(f"resume: {rendered} files rendered in {resume_s:.1f}s (must be 0)")

        total = time.perf_counter() - started
        image_mb = _disk_bytes(root, "images") / 1e6
        audio_mb = _disk_bytes(root, "audio") / 1e6
        print(
            f"total wall {total:.1f}s (import {import_s:.1f}s, images {image_s:.1f}s, "
            f"speech {audio_s:.1f}s, resume {resume_s:.1f}s); disk: images {image_mb:.1f} MB, "
            f"audio {audio_mb:.1f} MB"
        )
        summary = {
            "prompts": count,
            "images_per_s": images.images_rendered / image_s,  # type: ignore[attr-defined]
            "audio_files_per_s": files / audio_s,
            "image_s": image_s,
            "audio_s": audio_s,
            "resume_s": resume_s,
            "total_s": total,
            "images_mb": image_mb,
            "audio_mb": audio_mb,
        }
        if count < RELEASE_SIZE:
            scale = RELEASE_SIZE / count
            summary["extrapolated_2300_s"] = (image_s + audio_s) * scale
            summary["extrapolated_2300_mb"] = (image_mb + audio_mb) * scale
            print(
                f"extrapolated to {RELEASE_SIZE}: images + speech "
                f"{(image_s + audio_s) * scale:.0f}s, {(image_mb + audio_mb) * scale:.0f} MB "
                "(linear in the prompt count)"
            )
        print(json.dumps(summary))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
