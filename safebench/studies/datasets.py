"""The datasets a study's cells run on: sampled once, the same queries in every cell.

A study owns copies of what it changes (a sample, renamed categories, the seed dataset with its
speech and image controls) under ``<out>/datasets/``, so it never writes into a user's dataset.
A user dataset used whole is read where it is; its image controls and voices must already be
there, and a missing one is an error naming the command that makes it.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from generation.dataset import iter_queries, write_dataset
from generation.image_controls import control_root
from generation.importers import get_importer
from generation.importers.base import ImportOptions
from generation.importers.runner import run_import
from generation.media import MediaSettings, render_media
from kernel.errors import ConfigError
from kernel.files import atomic_write_bytes, file_sha256
from kernel.media import check_relative, read_media
from kernel.records import MediaRef, Query, modality_kind, modality_voice
from safebench.offline.seed import SEED_DATASET_NAME, build_seed_dataset
from safebench.run.session import model_session
from safebench.studies.spec import REFINED, DatasetEntry, Sample, StudySpec

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StudyData:
    """Each cell dataset of a study: ``roots[(dataset label, condition)]``."""

    roots: dict[tuple[str, str], Path]
    sampled: str | None
    """What was sampled, for the summary (None: every query)."""


def dataset_entries(spec: StudySpec, base_dataset: str) -> list[DatasetEntry]:
    return spec.axes.dataset or [DatasetEntry(name="base", path=base_dataset)]


def voices_needed(modalities: Iterable[str]) -> list[str]:
    """The voices the cells' audio modalities send; a bare ``audio`` (the query's first
    voice) needs speech too: the media step's default voices then."""
    voices: list[str] = []
    bare = False
    for modality in modalities:
        if modality_kind(modality) != "audio":
            continue
        voice = modality_voice(modality)
        if voice is None:
            bare = True
        elif voice not in voices:
            voices.append(voice)
    if bare and not voices:
        voices = list(MediaSettings().voices)
    return voices


async def prepare_datasets(
    spec: StudySpec, base_dataset: str, modalities: Sequence[str], out: Path
) -> StudyData:
    """Every (dataset, image condition) dataset the cells need, made or checked."""
    entries = dataset_entries(spec, base_dataset)
    conditions = spec.axes.condition or [REFINED]
    voices = voices_needed(modalities)
    kinds = {modality_kind(m) for m in modalities}
    sources: dict[str, tuple[Path, list[Query]]] = {}
    for entry in entries:
        root = _source_root(entry, out)
        sources[entry.name] = (root, [_renamed(q, entry) for q in iter_queries(root)])
    chosen: dict[str, list[Query]] = {n: qs for n, (_, qs) in sources.items()}
    sampled = None
    if spec.sample is not None:
        chosen, sampled = _sample(spec.sample, chosen)
    elif spec.limit is not None:
        # The cells ask only the first ``limit`` queries: a copy the study makes holds only
        # those (no speech or control images rendered for queries no cell asks).
        chosen = {name: queries[: spec.limit] for name, queries in chosen.items()}
    roots: dict[tuple[str, str], Path] = {}
    for entry in entries:
        source_root, _ = sources[entry.name]
        queries = chosen[entry.name]
        owned = (
            entry.path == SEED_DATASET_NAME
            or entry.format is not None
            or spec.sample is not None
            or entry.categories
        )
        if not owned:
            # A user dataset used whole: read in place, its controls and voices must exist.
            for condition in conditions:
                roots[(entry.name, condition)] = _condition_root(source_root, condition, entry)
            _check_voices(roots[(entry.name, conditions[0])], modalities, entry)
            continue
        copy = out / "datasets" / entry.name
        if entry.path == SEED_DATASET_NAME or entry.format is not None:
            # The study renders what the seed or an imported benchmark lacks (typographic
            # images, speech, controls) in its own copy.
            _copy_dataset(source_root, queries, copy)
            images = "image" in kinds and any(q.image is None for q in queries)
            await _render(copy, voices, controls=conditions != [REFINED], images=images)
            for condition in conditions:
                roots[(entry.name, condition)] = _condition_root(copy, condition, entry)
        else:
            ids = {q.id for q in queries}
            for condition in conditions:
                src = _condition_root(source_root, condition, entry)
                picked = [_renamed(q, entry) for q in iter_queries(src) if q.id in ids]
                dst = copy if condition == REFINED else control_root(copy, condition)
                _copy_dataset(src, picked, dst)
                roots[(entry.name, condition)] = dst
            _check_voices(copy, modalities, entry)
    return StudyData(roots, sampled)


def _source_root(entry: DatasetEntry, out: Path) -> Path:
    if entry.path == SEED_DATASET_NAME:
        return build_seed_dataset(out / "datasets" / "_seed-source")
    if entry.format is not None:
        return _imported(entry, out / "datasets" / f"_import-{entry.name}")
    root = Path(entry.path)
    if not (root / "queries.jsonl").is_file():
        raise ConfigError(
            f"dataset {entry.name}: no queries.jsonl in {root} (or use {SEED_DATASET_NAME})"
        )
    return root


def _imported(entry: DatasetEntry, root: Path) -> Path:
    """The benchmark at ``entry.path`` imported by its ``format``'s importer into ``root``;
    imported again only when the source file changed."""
    assert entry.format is not None
    source = Path(entry.path)
    marker = root / "source.sha256"
    digest = file_sha256(source) if source.is_file() else None
    if digest is not None and marker.is_file() and marker.read_text() == digest:
        return root
    if root.exists():
        shutil.rmtree(root)  # the study's own import: a stale one is replaced whole
    report = run_import(get_importer(entry.format), ImportOptions(source=source, out=root))
    log.info("study_import", dataset=entry.name, queries=report.imported)
    if digest is not None:
        marker.write_text(digest)
    return root


def _renamed(query: Query, entry: DatasetEntry) -> Query:
    new = entry.categories.get(query.category)
    return query if new is None else query.model_copy(update={"category": new})


def _condition_root(root: Path, condition: str, entry: DatasetEntry) -> Path:
    if condition == REFINED:
        return root
    found = control_root(root, condition)
    if not (found / "queries.jsonl").is_file():
        raise ConfigError(
            f"dataset {entry.name}: no {condition!r} control images under {found}; render "
            f"them first with `safebench media {root} --controls`"
        )
    return found


def _check_voices(root: Path, modalities: Sequence[str], entry: DatasetEntry) -> None:
    """A dataset of the user's has the voices the cells name, and some speech for a bare
    ``audio`` (whatever its voices are called)."""
    audio = [m for m in modalities if modality_kind(m) == "audio"]
    if not audio:
        return
    have = {ref.voice for q in iter_queries(root) for ref in q.audio}
    named = {modality_voice(m) for m in audio} - {None}
    missing = sorted(v for v in named if v not in have)
    if not have:
        missing = missing or ["any"]
    if missing:
        found = ", ".join(sorted(v for v in have if v)) or "none"
        raise ConfigError(
            f"dataset {entry.name} ({root}): no speech in voice {', '.join(map(repr, missing))} "
            f"(it has: {found}); speak it first with `safebench media {root}`"
        )


def _sample(sample: Sample, datasets: dict[str, list[Query]]) -> tuple[dict[str, list[Query]], str]:
    """``per_category`` queries of each shared category from every dataset, seeded."""
    present = [{q.category for q in qs} for qs in datasets.values()]
    shared = set.intersection(*present) if present else set()
    categories = sample.categories or sorted(shared)
    unknown = [c for c in categories if c not in shared]
    if unknown:
        raise ConfigError(
            f"sample.categories: {', '.join(map(repr, unknown))} not in every dataset "
            f"(shared: {', '.join(sorted(shared)) or 'none'})"
        )
    if not categories:
        raise ConfigError(
            "sample: the datasets share no category; rename theirs onto yours with "
            "axes.dataset[].categories"
        )
    picked: dict[str, list[Query]] = {}
    for name, queries in datasets.items():
        by_category: dict[str, list[Query]] = defaultdict(list)
        for query in queries:
            by_category[query.category].append(query)
        chosen: list[Query] = []
        for category in categories:
            pool = sorted(by_category[category], key=lambda q: q.id)
            # One generator per (dataset, category): adding a category changes no other draw.
            rng = random.Random(f"{sample.seed}:{name}:{category}")
            chosen.extend(rng.sample(pool, min(sample.per_category, len(pool))))
        picked[name] = chosen
    counts = ", ".join(f"{n} {len(qs)}" for n, qs in picked.items())
    summary = (
        f"{sample.per_category} per category from {len(categories)} categories "
        f"(seed {sample.seed}): {counts} queries"
    )
    return picked, summary


def _copy_dataset(src: Path, queries: Sequence[Query], dst: Path) -> None:
    """``queries`` of the dataset at ``src`` as a dataset of their own at ``dst``, with the
    media they reference, each read inside ``src`` and checked against its digest (a path
    leaving the dataset is an error naming it); unchanged files are not rewritten, so a rerun
    changes nothing."""
    dst.mkdir(parents=True, exist_ok=True)
    for query in queries:
        refs: list[MediaRef] = [*([query.image] if query.image else []), *query.audio]
        for ref in refs:
            check_relative(ref.path, f"{src}: query {query.id!r}")
            target = dst / ref.path
            if target.is_file() and file_sha256(target) == ref.sha256:
                continue
            data = read_media(src, ref)
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, data)
    if not _same_queries(dst, queries):
        write_dataset(dst, queries)


def _same_queries(root: Path, queries: Sequence[Query]) -> bool:
    path = root / "queries.jsonl"
    if not path.is_file():
        return False
    body = "".join(q.model_dump_json() + "\n" for q in queries).encode("utf-8")
    return hashlib.sha256(body).hexdigest() == file_sha256(path)


async def _render(root: Path, voices: Sequence[str], *, controls: bool, images: bool) -> None:
    """The study copy's typographic images (where missing), speech in ``voices`` and image
    controls, made offline."""
    if not voices and not controls and not images:
        return
    settings = MediaSettings(
        images=images, audio=bool(voices), voices=tuple(voices or ("male",)), controls=controls
    )
    queries = list(iter_queries(root))
    async with model_session() as session:
        result = await render_media(root, queries, settings, session.gateway)
    if result.failures:
        problems = "; ".join(
            json.dumps(f.model_dump(mode="json"))[:200] for f in result.failures[:3]
        )
        raise ConfigError(
            f"study dataset {root}: media failed for {len(result.failures)} queries: {problems}"
        )
    if not _same_queries(root, result.queries):
        write_dataset(root, result.queries)
    log.info("study_media", root=str(root), voices=list(voices), controls=controls)
