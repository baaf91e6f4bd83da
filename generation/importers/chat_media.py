"""Images inside a harness's chat messages: data URIs, files beside the log, never URLs."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from generation.importers.media import MediaStager, RowError
from kernel.records import MediaRef

_MAX_SHOWN = 60


def _short(reference: str) -> str:
    return reference if len(reference) <= _MAX_SHOWN else reference[:_MAX_SHOWN] + "…"


def decode_data_uri(reference: str) -> bytes:
    """The bytes of a base64 ``data:`` URI; RowError naming it when it is not one."""
    head, sep, payload = reference.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise RowError(f"image {_short(reference)!r} is not a base64 data URI")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RowError(f"image data URI {_short(reference)!r} is not valid base64: {exc}") from None


def stage_image(stager: MediaStager, reference: str, root: Path, query_id: str) -> MediaRef:
    """Copy the image a message names (a data URI, or a file relative to ``root``) into
    the dataset, checked like any imported image. A URL is refused: an import fetches
    nothing from the network."""
    if reference.startswith("data:"):
        return stager.image_data(decode_data_uri(reference), "image data URI", query_id)
    if reference.startswith(("http://", "https://")):
        raise RowError(f"image {_short(reference)!r} is a URL; an import does not fetch it")
    if reference.startswith("attachment://"):
        raise RowError(f"image {_short(reference)!r} is an unresolved log attachment")
    return stager.image(root, reference, query_id)
