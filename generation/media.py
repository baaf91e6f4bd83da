"""A dataset's images and speech: render what is missing, reuse what is already there.

``render_dataset_media`` gives every query an image (``images/<id>.png``, from the describe,
draw, criticise, refine loop of generation/images.py) and its text spoken in each voice
(``audio/<voice>/<id>.wav``, generation/speech.py), and returns the queries with their
``image`` and ``audio`` references filled in. The caller writes ``queries.jsonl``.

It is resumable: every finished file is noted in ``.media-manifest.jsonl`` (the ledger,
``generation.media_manifest``) with its digest and a fingerprint of what made it (text,
models, rounds, size, voice). A rerun whose inputs match reuses the file and renders
nothing; a changed query or setting renders that file again. Files are written beside
their final name and renamed into place.

A query whose image or speech fails (a model that keeps answering 429, 500 or garbage after
the gateway's retries) is recorded in ``media_failures.jsonl`` and keeps the media it had;
the other queries go on.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.gateway import Gateway
from agents.spec import ModelSpec
from generation.dataset import (
    AUDIO_DIR,
    IMAGES_DIR,
    media_ref_for,
    write_dataset,
)
from generation.image_controls import (
    CONTROL_VARIANTS,
    control_image,
    control_root,
    unrelated_partner,
)
from generation.images import IMAGE_MAKERS, image_maker, make_image
from generation.media_manifest import Manifest, inputs_fingerprint, spec_name
from generation.speech import (
    SPEECH_ENGINES,
    engine_voice,
    speak,
    speech_engine,
)
from kernel.errors import SafeBenchError
from kernel.files import atomic_write_bytes
from kernel.media import read_media
from kernel.records import MediaRef, Query

log = structlog.get_logger(__name__)

FAILURES_FILE = "media_failures.jsonl"
"""Per-dataset list of the queries whose media could not be made in the last run."""
IMAGE_MIME = "image/png"
AUDIO_MIME = "audio/wav"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _model_or_none(value: Any) -> Any:
    # A bare model string ("openai/gpt-image-1") is the common case on the CLI and in YAML.
    if isinstance(value, str):
        return {"model": value}
    return value


class MediaSettings(BaseModel):
    """What ``render_dataset_media`` makes, and with which models."""

    model_config = ConfigDict(extra="forbid")

    images: bool = True
    """Make an image for each query (a query that already has a readable one keeps it)."""
    image_model: ModelSpec | None = None
    """Text-to-image model, any litellm image model (``openai/gpt-image-1``,
    ``hosted_vllm/...`` with ``api_base``); None draws the key phrase typographically
    (FigStep style, offline)."""
    image_maker: str | None = None
    """Who draws, by registered name (``generation.images.IMAGE_MAKERS``: ``typographic``,
    ``model``); None picks ``model`` when ``image_model`` is set, else ``typographic``."""
    describer: ModelSpec | None = None
    """Judge that names each query's key subject and writes the image description (JSON);
    None extracts the key phrase by rule (deterministic, offline)."""
    critic: ModelSpec | None = None
    """Vision judge that says whether an image evokes its query (JSON yes/no and critique);
    None accepts the first draft."""
    refine_rounds: int = Field(3, ge=0, le=10)
    """Most times a rejected image is re-described and redrawn (the paper uses 3)."""
    image_size: tuple[int, int] = (512, 512)
    """Width and height of every image, in pixels."""
    keep_existing_images: bool = True
    """Leave a query's image alone when it already has one this step did not make (an
    imported dataset's real images, the seed's typographic ones)."""
    audio: bool = True
    """Speak each query's text in every voice of ``voices``."""
    voices: tuple[str, ...] = ("male", "female")
    """Voice labels; each becomes ``audio/<label>/`` and ``MediaRef.voice``."""
    voice_names: dict[str, str] = Field(default_factory=dict)
    """Engine voice for a label, overriding the defaults (espeak-ng ``en-us+m3`` /
    ``en-us+f3``; TTS models ``onyx`` / ``nova``)."""
    tts_model: ModelSpec | None = None
    """Text-to-speech model, any litellm ``aspeech`` model (``openai/tts-1``); None speaks
    with espeak-ng (offline; ``make system-deps`` installs it)."""
    speech_engine: str | None = None
    """Who speaks, by registered name (``generation.speech.SPEECH_ENGINES``: ``espeak``,
    ``tts``); None picks ``tts`` when ``tts_model`` is set, else ``espeak``."""
    controls: bool = False
    """Also write the image-quality control datasets under ``controls/<variant>/`` (black,
    white, noise, unrelated, unrefined), each runnable with ``safebench run``."""
    concurrency: int = Field(8, ge=1, le=256)
    """Queries whose media are made at once (bounds model calls in flight)."""
    speech_processes: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=64)
    """espeak-ng processes run at once (CPU bound: about one per core)."""

    @field_validator("image_model", "describer", "critic", "tts_model", mode="before")
    @classmethod
    def model_strings(cls, value: Any) -> Any:
        """Accept a bare model string for any model field."""
        return _model_or_none(value)

    @field_validator("image_maker")
    @classmethod
    def known_image_maker(cls, value: str | None) -> str | None:
        return None if value is None else IMAGE_MAKERS.check(value)

    @field_validator("speech_engine")
    @classmethod
    def known_speech_engine(cls, value: str | None) -> str | None:
        return None if value is None else SPEECH_ENGINES.check(value)

    @model_validator(mode="after")
    def makers_have_their_models(self) -> MediaSettings:
        """A maker that uses a model is given one; one that does not is given none (a model
        it would ignore is a mistake worth saying)."""
        pairs = (
            ("image_maker", self.image_maker, IMAGE_MAKERS, "image_model", self.image_model),
            ("speech_engine", self.speech_engine, SPEECH_ENGINES, "tts_model", self.tts_model),
        )
        for field_name, name, registry, model_field, model in pairs:
            if name is None:
                continue
            uses_model = registry[name].uses_model
            if uses_model and model is None:
                raise ValueError(f"{field_name} {name!r} needs {model_field}")
            if not uses_model and model is not None:
                raise ValueError(f"{field_name} {name!r} takes no {model_field}")
        return self


class MediaFailure(BaseModel):
    """One medium of one query that could not be made."""

    model_config = ConfigDict(extra="forbid")

    query_id: str
    medium: str
    """``image`` or ``audio:<voice>``."""
    error: str


@dataclass
class MediaResult:
    """What one call made, reused and failed, and how long each medium took."""

    queries: list[Query]
    images_rendered: int = 0
    images_reused: int = 0
    images_kept: int = 0
    refinements: int = 0
    rejected_after_rounds: int = 0
    audio_rendered: int = 0
    audio_reused: int = 0
    controls_written: int = 0
    image_seconds: float = 0.0
    audio_seconds: float = 0.0
    failures: list[MediaFailure] = field(default_factory=list)


def file_stem(query_id: str) -> str:
    """A file name for ``query_id``: the id itself when safe, else a cleaned id plus a hash."""
    clean = _UNSAFE_NAME.sub("_", query_id).strip("._") or "query"
    if clean == query_id and len(clean) <= 120:
        return clean
    return f"{clean[:100]}-{hashlib.sha256(query_id.encode()).hexdigest()[:12]}"


def _advance(progress: Any | None, status: str) -> None:
    if progress is not None:
        progress.advance(status)


def _existing_ok(root: Path, ref: MediaRef) -> bool:
    try:
        read_media(root, ref)
    except SafeBenchError:
        return False
    return True


class _Renderer:
    def __init__(
        self, root: Path, settings: MediaSettings, gateway: Gateway, progress: Any | None
    ) -> None:
        self.root = root
        self.settings = settings
        self.gateway = gateway
        self.progress = progress
        self.manifest = Manifest(root)
        self.limit = asyncio.Semaphore(settings.concurrency)
        self.speech_limit = asyncio.Semaphore(settings.speech_processes)
        self.result = MediaResult(queries=[])

    # ----------------------------------------------------------------------- images

    def _image_fingerprint(self, query: Query) -> str:
        s = self.settings
        # The maker's name joins the fingerprint only when it is not the default pick, so
        # images drawn before makers had names keep theirs.
        model_part = spec_name(s.image_model)
        if image_maker(s.image_maker, s.image_model) is not image_maker(None, s.image_model):
            model_part = f"{s.image_maker}:{model_part}"
        return inputs_fingerprint(
            medium="image",
            text=query.text,
            image_model=model_part,
            describer=spec_name(s.describer),
            critic=spec_name(s.critic),
            rounds=s.refine_rounds if s.critic is not None else 0,
            size=list(s.image_size),
        )

    def image_path(self, query: Query) -> str:
        return f"{IMAGES_DIR}/{file_stem(query.id)}.png"

    def unrefined_path(self, query: Query) -> Path:
        return control_root(self.root, "unrefined") / IMAGES_DIR / f"{file_stem(query.id)}.png"

    def _needs_draft(self) -> bool:
        """Whether the controls need an image's first draft apart from the image: only when a
        critic may have refined it. Without one the image is its own first draft, so an
        image ``generate`` (or a run without --controls) made is reused, not drawn again."""
        return self.settings.controls and self.settings.critic is not None

    def _fresh_draft(self, query: Query) -> Path | None:
        """The first draft kept for ``query``'s image, when it was drawn with today's inputs."""
        path = self.unrefined_path(query)
        relative = path.relative_to(self.root).as_posix()
        fresh = self.manifest.fresh(self.root, relative, self._image_fingerprint(query))
        return path if fresh else None

    async def image(self, query: Query) -> Query:
        relative = self.image_path(query)
        ours = relative in self.manifest.entries
        if (
            self.settings.keep_existing_images
            and query.image is not None
            and not (ours and query.image.path == relative)
            and _existing_ok(self.root, query.image)
        ):
            self.result.images_kept += 1
            _advance(self.progress, "images kept")
            return query
        fingerprint = self._image_fingerprint(query)
        unrefined = self.unrefined_path(query)
        unrefined_rel = unrefined.relative_to(self.root).as_posix()
        if self.manifest.fresh(self.root, relative, fingerprint) and (
            not self._needs_draft() or self.manifest.fresh(self.root, unrefined_rel, fingerprint)
        ):
            self.result.images_reused += 1
            _advance(self.progress, "images reused")
            return query.model_copy(update={"image": self.manifest.ref(relative, IMAGE_MIME)})
        try:
            async with self.limit:
                outcome = await make_image(
                    query,
                    gateway=self.gateway,
                    image_model=self.settings.image_model,
                    describer=self.settings.describer,
                    critic=self.settings.critic,
                    refine_rounds=self.settings.refine_rounds,
                    size=self.settings.image_size,
                    maker=image_maker(self.settings.image_maker, self.settings.image_model),
                )
        except Exception as exc:  # one query's failure must not cost the others
            self._fail(query, "image", exc)
            return query
        if self.settings.controls:
            await asyncio.to_thread(
                atomic_write_bytes, unrefined, outcome.unrefined_png, make_parents=True
            )
            self.manifest.note(unrefined_rel, outcome.unrefined_png, fingerprint)
        await asyncio.to_thread(
            atomic_write_bytes, self.root / relative, outcome.png, make_parents=True
        )
        self.manifest.note(relative, outcome.png, fingerprint)
        self.result.images_rendered += 1
        self.result.refinements += outcome.refinements
        self.result.rejected_after_rounds += 0 if outcome.accepted else 1
        _advance(self.progress, "images rendered")
        return query.model_copy(update={"image": self.manifest.ref(relative, IMAGE_MIME)})

    # ----------------------------------------------------------------------- speech

    async def audio(self, query: Query) -> Query:
        s = self.settings
        engine = speech_engine(s.speech_engine, s.tts_model)
        # The engine's name joins the fingerprint only when it is not the default pick, so
        # files spoken before engines had names keep theirs.
        engine_part = spec_name(s.tts_model)
        if engine is not speech_engine(None, s.tts_model):
            engine_part = f"{s.speech_engine}:{engine_part}"
        refs = {ref.voice: ref for ref in query.audio}
        async with self.limit:
            for label in s.voices:
                voice = engine_voice(label, s.voice_names, engine)
                relative = f"{AUDIO_DIR}/{file_stem(label)}/{file_stem(query.id)}.wav"
                fingerprint = inputs_fingerprint(
                    medium="audio", text=query.text, engine=engine_part, voice=voice
                )
                if self.manifest.fresh(self.root, relative, fingerprint):
                    self.result.audio_reused += 1
                    _advance(self.progress, "speech reused")
                else:
                    try:
                        # A local engine is CPU bound: bounded by its own process count.
                        async with self.speech_limit if engine.local else nullcontext():
                            data = await speak(
                                query.text,
                                label,
                                gateway=self.gateway,
                                tts_model=s.tts_model,
                                voices=s.voice_names,
                                scope=""
                                if engine.local
                                else f"media::{query.id}::speech::{label}::{fingerprint[:16]}",
                                engine=engine,
                            )
                    except Exception as exc:  # one voice's failure must not cost the rest
                        self._fail(query, f"audio:{label}", exc)
                        _advance(self.progress, "speech failed")
                        continue
                    await asyncio.to_thread(
                        atomic_write_bytes, self.root / relative, data, make_parents=True
                    )
                    self.manifest.note(relative, data, fingerprint)
                    self.result.audio_rendered += 1
                    _advance(self.progress, "speech rendered")
                refs[label] = self.manifest.ref(relative, AUDIO_MIME, voice=label)
        # Configured voices first, in their order; other voices the query had stay after them.
        ordered = [refs[v] for v in s.voices if v in refs]
        ordered += [r for v, r in refs.items() if v not in s.voices]
        return query.model_copy(update={"audio": tuple(ordered)})

    # ----------------------------------------------------------------------- controls

    def write_controls(self, queries: Sequence[Query]) -> None:
        size = self.settings.image_size
        with_images = [q for q in queries if q.image is not None]
        for variant in CONTROL_VARIANTS:
            target = control_root(self.root, variant)
            variant_queries: list[Query] = []
            for index, query in enumerate(with_images):
                assert query.image is not None  # filtered above

                def partner(index: int = index) -> bytes | None:
                    other = unrelated_partner(with_images, index)
                    if other is None:
                        return None
                    ref = with_images[other].image
                    return None if ref is None else read_media(self.root, ref)

                def unrefined(query: Query = query) -> bytes | None:
                    path = self._fresh_draft(query)
                    if path is not None:
                        return path.read_bytes()
                    # An image this step did not make, or made with no critic, has no
                    # earlier draft: it is its own.
                    return read_media(self.root, query.image) if query.image else None

                data = control_image(
                    variant, query, size, partner_png=partner, unrefined_png=unrefined
                )
                if data is None:
                    continue
                # Relative to the variant's dataset: media_ref_for joins a relative path to
                # its root, so a path that already starts with a relative root (the
                # dataset given as data/gen) would be joined twice.
                relative = Path(IMAGES_DIR) / f"{file_stem(query.id)}.png"
                path = target / relative
                if not (path.exists() and path.read_bytes() == data):
                    atomic_write_bytes(path, data, make_parents=True)
                    self.result.controls_written += 1
                ref = media_ref_for(target, relative, IMAGE_MIME)
                variant_queries.append(
                    query.model_copy(
                        update={"image": ref, "audio": (), "source": f"control:{variant}"}
                    )
                )
            write_dataset(target, variant_queries)

    # ----------------------------------------------------------------------- bookkeeping

    def _fail(self, query: Query, medium: str, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        log.warning("media_failed", query=query.id, medium=medium, error=message)
        self.result.failures.append(MediaFailure(query_id=query.id, medium=medium, error=message))
        if medium == "image":
            _advance(self.progress, "images failed")

    def write_failures(self) -> None:
        path = self.root / FAILURES_FILE
        if not self.result.failures:
            path.unlink(missing_ok=True)
            return
        body = "".join(f.model_dump_json() + "\n" for f in self.result.failures)
        atomic_write_bytes(path, body.encode("utf-8"), make_parents=True)


async def render_media(
    root: Path,
    queries: Sequence[Query],
    settings: MediaSettings,
    gateway: Gateway,
    progress: Any | None = None,
) -> MediaResult:
    """Make the dataset's missing media; the full account (counts, timings, failures)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if settings.audio:
        # Fail before any work, with the install hint (espeak-ng missing).
        speech_engine(settings.speech_engine, settings.tts_model).ready()
    renderer = _Renderer(root, settings, gateway, progress)
    # One step per image and per speech file, as the result counts them: the bar and the
    # summary table agree (the bar once counted queries, "rendered" for images and "spoken"
    # for speech, and said "spoken 48" beside a table of 96 files reused).
    per_query = int(settings.images) + (len(settings.voices) if settings.audio else 0)
    if progress is not None:
        progress.start(len(queries) * per_query, 0)
    current = list(queries)
    if settings.images:
        started = time.perf_counter()
        current = list(await asyncio.gather(*(renderer.image(q) for q in current)))
        renderer.result.image_seconds = time.perf_counter() - started
    if settings.audio:
        started = time.perf_counter()
        current = list(await asyncio.gather(*(renderer.audio(q) for q in current)))
        renderer.result.audio_seconds = time.perf_counter() - started
    if settings.controls:
        await asyncio.to_thread(renderer.write_controls, current)
    renderer.write_failures()
    renderer.result.queries = current
    log.info(
        "media_done",
        images=renderer.result.images_rendered,
        audio=renderer.result.audio_rendered,
        failures=len(renderer.result.failures),
    )
    return renderer.result


async def render_dataset_media(
    root: Path,
    queries: Sequence[Query],
    settings: MediaSettings,
    gateway: Gateway,
    progress: Any | None = None,
) -> list[Query]:
    """``queries`` with their ``image`` and per-voice ``audio`` filled, files under ``root``.

    Rerunning with the same inputs renders nothing. Failures are in ``media_failures.jsonl``;
    those queries keep the media they had.
    """
    result = await render_media(root, queries, settings, gateway, progress)
    return result.queries
