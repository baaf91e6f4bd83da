"""``pgd``: the query's image perturbed against a local ``hf/`` target's own vision tower.

The optimisation half of BAP: projected gradient descent within an L-infinity budget makes
the checkpoint likelier to open its answer with an affirmative prefix, given the perturbed
image and the query's text. The torch code is ``agents.local.pgd`` (imported when the attack
runs, so reading a config loads no torch); this module loads the checkpoint, runs it off the
event loop and writes the perturbed image as a new PNG of the attacked dataset.
"""

from __future__ import annotations

import asyncio
import io

from PIL import Image
from pydantic import Field

from generation.attacks.base import (
    AttackContext,
    AttackParams,
    AttackSpec,
    attacked,
    register_attack,
)
from generation.dataset import media_ref_for
from kernel.errors import DatasetError
from kernel.files import atomic_write
from kernel.media import read_media
from kernel.records import Query


class PgdParams(AttackParams):
    model: str = Field(pattern=r"^hf/.+")
    """The local target attacked, as its config names it (``hf/<dir or hub id>``)."""
    device: str = "cpu"
    """Where the optimisation runs: ``cpu``, ``cuda``, ``cuda:1`` …"""
    epsilon: float = Field(16.0, gt=0, le=255)
    """L-infinity budget in pixel levels (0-255): no pixel channel moves more than this."""
    step_size: float = Field(1.0, gt=0, le=255)
    """Each step's move per pixel channel, in pixel levels."""
    steps: int = Field(100, ge=1, le=100_000)
    """Gradient steps."""
    seed: int = 0
    """Seed of the random start inside the budget (same seed, same image on the CPU)."""
    target: str = Field("Sure, here is", min_length=1)
    """The affirmative prefix whose likelihood the perturbation raises."""


def _perturb(params: PgdParams, image_bytes: bytes, text: str) -> tuple[Image.Image, float, float]:
    # Heavy imports here: torch and transformers load when a pgd attack first runs.
    from agents.local.loader import load
    from agents.local.options import LoadOptions
    from agents.local.pgd import PgdSettings, perturb_image

    loaded = load(params.model, LoadOptions(device=params.device), "generator")
    with Image.open(io.BytesIO(image_bytes)) as opened:
        image = opened.convert("RGB")
    settings = PgdSettings(
        epsilon=params.epsilon,
        step_size=params.step_size,
        steps=params.steps,
        seed=params.seed,
        target=params.target,
    )
    result = perturb_image(loaded, image, text, settings)
    return result.image, result.loss_before, result.loss_after


async def apply_pgd(query: Query, params: PgdParams, context: AttackContext) -> Query:
    if query.image is None:
        raise DatasetError(
            f"query {query.id!r}: the pgd attack perturbs the query's image, and it has none"
        )
    image_bytes = read_media(context.dataset_root, query.image)
    image, _, _ = await asyncio.to_thread(_perturb, params, image_bytes, query.text)
    path = context.media_path(query, ".png")
    with atomic_write(path, "wb", make_parents=True) as handle:
        image.save(handle, format="PNG", optimize=False, compress_level=6)
    ref = media_ref_for(context.out_root, path.relative_to(context.out_root), "image/png")
    return attacked(query, "pgd", params, image=ref)


SPEC = register_attack(
    AttackSpec(
        name="pgd",
        summary="BAP's optimisation half: the image perturbed by PGD within an L-infinity "
        "budget against a local hf/ target, towards an affirmative answer",
        params=PgdParams,
        apply=apply_pgd,
        acts_on="image",
    )
)
