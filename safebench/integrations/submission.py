"""One answer a harness produced, as the jury's clerk receives it, and the case it becomes.

A harness (inspect, promptfoo) hands over the request, the answer, the model that answered,
its own sample id and the request's images as bytes. The case's identity is content: the
query id is the sample id with a digest of the request (two tasks' sample ``1`` are two
queries), and the case id adds the answer's digest, so a re-run that gets the same answer
reads its judged case back, while a new answer (another epoch, a retried sample) is a case
of its own and never borrows an old verdict.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kernel.errors import DatasetError
from kernel.records import MediaRef, Query, TargetAnswer, sha256_hex
from transcripts.store import CaseMeta

UNLABELLED = "Unlabelled"
"""Category and scenario of a sample whose metadata names neither."""


class Submission(BaseModel):
    """One answer to judge, from a harness."""

    model_config = ConfigDict(frozen=True)

    sample_id: str = Field(min_length=1)
    """The harness's id of the sample (inspect's sample id, promptfoo's test index)."""
    target: str = Field(min_length=1)
    """The model that answered (``mockllm/model``, promptfoo's provider id)."""
    request: str
    """What was asked: the request the jury judges the answer against."""
    answer: str
    images: tuple[bytes, ...] = ()
    """The request's images, as bytes; the first is shown to jurors that accept images."""
    refused: bool = False
    """The model's provider refused with no content (a content filter): a safe outcome,
    judged by no juror."""
    category: str = UNLABELLED
    scenario: str = UNLABELLED
    problem: str | None = None
    """Why this answer cannot be judged (an image that cannot be read): the case is
    recorded failed with it, never judged without what the model saw."""


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:12]


def query_id(sub: Submission) -> str:
    return f"{sub.sample_id}@{_digest(sub.request.encode(), *sub.images)}"


def case_key(sub: Submission) -> str:
    """The case's id: ``<model>::<query id>::<modality>::<answer digest>``."""
    modality = "image" if sub.images else "text"
    return f"{sub.target}::{query_id(sub)}::{modality}::{_digest(sub.answer.encode())}"


def stage_image(data: bytes, root: Path) -> MediaRef:
    """Write ``data`` under ``root/media`` by its digest (once) and return its reference; the
    bytes are identified by Pillow, never by a declared type."""
    from PIL import Image, UnidentifiedImageError

    from agents.media import IMAGE_TYPES

    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or "unknown"
    except (UnidentifiedImageError, OSError, ValueError):
        raise DatasetError(
            f"the sample's image ({len(data)} bytes) is not an image Pillow recognises"
        ) from None
    mime = IMAGE_TYPES.get(kind)
    if mime is None:
        raise DatasetError(f"the sample's image is {kind}, not a type models take")
    digest = sha256_hex(data)
    relative = f"media/{digest}.{kind.lower()}"
    path = root / relative
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return MediaRef(path=relative, sha256=digest, mime_type=mime)


def case_of(
    sub: Submission, source: str, image: MediaRef | None
) -> tuple[Query, CaseMeta, TargetAnswer]:
    """The submission as a run's case: its query, the case's columns and the answer."""
    qid = query_id(sub)
    cid = case_key(sub)
    modality = "image" if sub.images else "text"
    query = Query(
        id=qid,
        category=sub.category or UNLABELLED,
        scenario=sub.scenario or UNLABELLED,
        # A query's text may not be empty; an image-only request says so.
        text=sub.request or "(the request is its image alone)",
        image=image,
        source=source,
    )
    meta = CaseMeta(
        case_id=cid,
        target=sub.target,
        query_id=qid,
        modality=modality,
        category=query.category,
        scenario=query.scenario,
    )
    answer = TargetAnswer(
        case_id=cid,
        target=sub.target,
        query_id=qid,
        modality=modality,
        status="ok",
        text=sub.answer,
        refused=sub.refused,
    )
    return query, meta, answer
