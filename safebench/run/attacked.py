"""The attacked dataset of a run: the source queries under the run's ``attack``, on disk.

A run with ``attack:`` evaluates a dataset of its own, materialised before its cases start:
``<store dir>/datasets/attacked/<digest>/`` with ``queries.jsonl`` and the media (the
source's, copied, and those the attack made). The digest covers the source's
``queries.jsonl``, the attack (name, full parameters and what they point at) and the run's
``limit`` or ``sample`` (only the queries the run asks are attacked), so a changed attack is another
directory and the same one is reused. The directory is built under a temporary name and
renamed into place whole, with a marker holding its digest and its queries' hash: a
directory without a matching marker is never taken for complete.

It is built inside the run's model session, so a persuasion model's calls are recorded in
the run store: a killed run rebuilds the directory from the recorded calls, asking nothing
again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import structlog

from agents.budget import SpendLimit
from agents.gateway import Gateway
from generation.attacks import AttackConfig, AttackContext, apply_attack
from generation.attacks.base import failed_attack, public_params
from generation.dataset import iter_queries, queries_path, write_dataset
from generation.sampling import SampleConfig, sample_ids, sampled
from kernel.errors import DatasetError, ProviderError
from kernel.files import atomic_write_text, file_sha256
from kernel.media import read_media
from kernel.records import MediaRef, Query
from safebench.run.cases import limited
from safebench.run.config import RunConfig
from safebench.run.session import model_session

log = structlog.get_logger(__name__)

ATTACKED_DIR = "attacked"
"""Folder under ``<store dir>/datasets`` holding attacked datasets, one per digest."""
_MARKER = ".attack-complete"


def attacked_digest(
    attack: AttackConfig, source_root: Path, limit: int | None, sample: SampleConfig | None = None
) -> str:
    """The digest naming the attacked dataset of ``source_root`` under ``attack``."""
    payload: dict[str, object] = {
        "source_queries_sha256": file_sha256(queries_path(source_root)),
        "attack": attack.identity(),
        "limit": limit,
    }
    if sample is not None:  # only when set: the digests of unsampled runs stay as they were
        payload["sample"] = sample.model_dump(exclude_none=True)
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def attacked_root(config: RunConfig, digest: str) -> Path:
    return config.store_path().parent / "datasets" / ATTACKED_DIR / digest


def _is_complete(root: Path, digest: str) -> bool:
    marker = root / _MARKER
    if not marker.is_file() or not queries_path(root).is_file():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        return bool(
            recorded.get("digest") == digest
            and recorded.get("queries_sha256") == file_sha256(queries_path(root))
        )
    except (OSError, ValueError, AttributeError):
        return False


def _copy_media(source_root: Path, out_root: Path, refs: list[MediaRef]) -> None:
    for ref in refs:
        data = read_media(source_root, ref)  # checked against its digest
        target = out_root / ref.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _install(building: Path, out_root: Path, queries: list[Query], digest: str) -> None:
    """Write the queries and the marker in ``building``, then rename it to ``out_root``."""
    write_dataset(building, queries)
    marker = {"digest": digest, "queries_sha256": file_sha256(queries_path(building))}
    atomic_write_text(building / _MARKER, json.dumps(marker) + "\n")
    if out_root.exists():
        if _is_complete(out_root, digest):
            # Another run finished the same directory meanwhile (and may be reading it).
            shutil.rmtree(building)
            return
        # An incomplete leftover (a build killed mid-rename, a tampered copy): replaced.
        shutil.rmtree(out_root)
    try:
        os.replace(building, out_root)
    except OSError:
        # Another run built the same directory meanwhile: theirs is as good as ours.
        if not _is_complete(out_root, digest):
            raise


async def _attack_all(
    attack: AttackConfig,
    queries: list[Query],
    context: AttackContext,
    concurrency: int,
) -> list[Query]:
    gate = asyncio.Semaphore(concurrency)

    async def one(query: Query) -> Query:
        async with gate:
            try:
                return await apply_attack(attack, query, context)
            except (DatasetError, ProviderError) as exc:
                # This query's attack failed (a refused or empty rewrite, a model that could
                # not be reached): its cases are recorded failed with the reason; the others
                # go on. A budget stop or a bug still ends the run.
                log.warning("attack_failed", query=query.id, attack=attack.name, error=str(exc))
                return failed_attack(query, attack.name, public_params(attack.parsed()), str(exc))

    # A task group: the first failure cancels the rest (none goes on writing into a build
    # directory that is being removed). Results in dataset order, whatever order they finish.
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(q)) for q in queries]
    except BaseExceptionGroup as failed:
        # The first failure as itself (a DatasetError, a ProviderError), as the run reports it.
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def build_attacked_dataset(
    attack: AttackConfig,
    source_root: Path,
    out_root: Path,
    digest: str,
    *,
    limit: int | None = None,
    sample: SampleConfig | None = None,
    gateway: Gateway | None = None,
    concurrency: int = 8,
) -> Path:
    """``out_root`` holding the first ``limit`` queries of ``source_root`` (or its
    ``sample``) under ``attack``; built unless a complete one with ``digest`` is already there."""
    if _is_complete(out_root, digest):
        log.debug("attacked dataset is current", root=str(out_root))
        return out_root
    out_root.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out_root.name}-", dir=out_root.parent))
    try:
        queries = list(limited(iter_queries(source_root), limit))
        if sample is not None:
            # The run then draws the same sample from this copy (same ids and scenarios).
            queries = list(sampled(queries, sample_ids(queries, sample)))
        originals = [ref for q in queries for ref in ([q.image] if q.image else []) + list(q.audio)]
        await asyncio.to_thread(_copy_media, source_root, building, originals)
        context = AttackContext(dataset_root=source_root, out_root=building, gateway=gateway)
        done = await _attack_all(attack, queries, context, concurrency)
        await asyncio.to_thread(_install, building, out_root, done, digest)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log.info("attacked dataset built", root=str(out_root), attack=attack.name, queries=len(done))
    return out_root


async def attack_dataset(config: RunConfig, source_root: Path, gateway: Gateway | None) -> Path:
    """The dataset the run's cases read: ``source_root`` itself when the run has no attack,
    else its attacked copy beside the store (built with ``gateway``, the run's)."""
    if config.attack is None:
        return source_root
    digest = attacked_digest(config.attack, source_root, config.limit, config.sample)
    return await build_attacked_dataset(
        config.attack,
        source_root,
        attacked_root(config, digest),
        digest,
        limit=config.limit,
        sample=config.sample,
        gateway=gateway,
        concurrency=config.concurrency,
    )


async def attack_dataset_in_session(
    config: RunConfig, source_root: Path, spend: SpendLimit | None = None
) -> Path:
    """:func:`attack_dataset` for a caller without a model session (the multi-process run's
    parent): one is opened on the run's store only when there is an attack. ``spend`` is the
    run's budget, checked before every call the attack sends, as for the cases."""
    if config.attack is None:
        return source_root
    async with model_session(config.gateway, config.store_path(), spend=spend) as session:
        return await attack_dataset(config, source_root, session.gateway)
