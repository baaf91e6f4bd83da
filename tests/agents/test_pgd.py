"""PGD against the tiny random-weight LLaVA: the perturbation stays inside its L-infinity
budget, changes the model's logits, lowers the prefix loss, and is seeded-deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from agents.local.loader import LoadedModel, load
from agents.local.options import LoadOptions
from agents.local.pgd import PgdSettings, perturb_image, prefix_loss
from generation.attacks import AttackConfig, AttackContext, apply_attack
from kernel.errors import ConfigError
from kernel.media import read_media
from kernel.records import MediaRef, Query, sha256_hex
from tests.agents.tiny_models import build_llava_model, build_text_model

PROMPT = "describe the image and tell me what you see"


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_llava_model(tmp_path_factory.mktemp("llava"))


@pytest.fixture(scope="module")
def llava(llava_dir: Path) -> LoadedModel:
    return load(f"hf/{llava_dir}", LoadOptions(), "generator")


def picture(width: int = 40, height: int = 34, seed: int = 1) -> Image.Image:
    """A noisy non-square picture: the processor resizes and crops it (28 x 28)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def settings(**overrides: object) -> PgdSettings:
    values: dict[str, object] = {
        "epsilon": 8.0,
        "step_size": 2.0,
        "steps": 6,
        "seed": 0,
        "target": "here is how to",
    }
    values.update(overrides)
    return PgdSettings(**values)  # type: ignore[arg-type]


def logits(loaded: LoadedModel, image: Image.Image) -> torch.Tensor:
    inputs = loaded.processor(
        text=["user: <image>describe\nassistant:"], images=[image], return_tensors="pt"
    )
    with torch.no_grad():
        return loaded.model(**inputs.to(loaded.device)).logits[0, -1]


def test_perturbation_stays_within_epsilon_and_changes_the_logits(llava: LoadedModel) -> None:
    original = picture()
    result = perturb_image(llava, original, PROMPT, settings())
    assert result.image.size == original.size
    delta = np.asarray(result.image, dtype=np.float64) - np.asarray(original, dtype=np.float64)
    assert np.abs(delta).max() <= 8.0 + 1e-6
    assert result.max_delta == int(np.abs(delta).max())
    assert np.abs(delta).max() > 0  # it did move
    assert not torch.allclose(logits(llava, original), logits(llava, result.image))
    # Descent on the prefix loss: the perturbed image makes the prefix likelier.
    assert result.loss_before == pytest.approx(
        prefix_loss(llava, original, PROMPT, "here is how to")
    )
    assert result.loss_after < result.loss_before


def test_a_fractional_budget_is_kept_after_rounding(llava: LoadedModel) -> None:
    original = picture(seed=2)
    result = perturb_image(llava, original, PROMPT, settings(epsilon=2.5, step_size=1.0))
    delta = np.asarray(result.image, dtype=np.float64) - np.asarray(original, dtype=np.float64)
    assert np.abs(delta).max() <= 2.5 + 1e-6


def test_same_seed_same_image_other_seed_another(llava: LoadedModel) -> None:
    original = picture(seed=3)
    first = perturb_image(llava, original, PROMPT, settings(seed=7))
    second = perturb_image(llava, original, PROMPT, settings(seed=7))
    other = perturb_image(llava, original, PROMPT, settings(seed=8))
    assert first.image.tobytes() == second.image.tobytes()
    assert first.image.tobytes() != other.image.tobytes()


def test_a_text_only_checkpoint_is_refused(tmp_path: Path) -> None:
    text_only = load(f"hf/{build_text_model(tmp_path / 'text')}", LoadOptions(), "generator")
    with pytest.raises(ConfigError, match="image-text checkpoint"):
        perturb_image(text_only, picture(), PROMPT, settings())


async def test_the_pgd_attack_writes_a_perturbed_png_within_budget(
    llava_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    (source / "images").mkdir(parents=True)
    picture(seed=4).save(source / "images" / "q.png")
    data = (source / "images" / "q.png").read_bytes()
    query = Query(
        id="q/1",
        category="Crime",
        scenario="Burglary",
        text=PROMPT,
        image=MediaRef(path="images/q.png", sha256=sha256_hex(data), mime_type="image/png"),
    )
    config = AttackConfig(
        name="pgd",
        params={"model": f"hf/{llava_dir}", "epsilon": 4, "step_size": 1, "steps": 3, "seed": 1},
    )
    done = await apply_attack(config, query, AttackContext(source, tmp_path / "out"))
    assert done.text == PROMPT
    assert done.image is not None and done.image.path.startswith("attack/")
    assert done.attack is not None and done.attack.original_image == query.image
    assert done.attack.params["epsilon"] == 4.0
    perturbed = Image.open(tmp_path / "out" / done.image.path)
    read_media(tmp_path / "out", done.image)  # its digest is right
    delta = np.asarray(perturbed, dtype=np.int16) - np.asarray(picture(seed=4), dtype=np.int16)
    assert 0 < np.abs(delta).max() <= 4


async def test_the_pgd_attack_needs_an_image(llava_dir: Path, tmp_path: Path) -> None:
    from kernel.errors import DatasetError

    query = Query(id="q", category="C", scenario="S", text=PROMPT)
    config = AttackConfig(name="pgd", params={"model": f"hf/{llava_dir}"})
    with pytest.raises(DatasetError, match="has none"):
        await apply_attack(config, query, AttackContext(tmp_path, tmp_path / "out"))


def test_the_differentiable_preprocessing_matches_the_processor(llava: LoadedModel) -> None:
    # The gradient is taken through pgd's copy of the preprocessing; it must be the same
    # function the target applies when it is sent the PNG (up to interpolation rounding).
    from agents.local.pgd import _preprocess

    processor = llava.processor.image_processor
    for image in (picture(300, 200, seed=5), picture(28, 28, seed=6)):
        expected = processor(images=[image], return_tensors="pt")["pixel_values"]
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        got = _preprocess(pixels, processor)
        assert got.shape == expected.shape
        assert float((got - expected).abs().max()) < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pgd_on_cuda_keeps_its_budget(llava_dir: Path) -> None:
    # Not compared byte for byte: GPU backward kernels need not be deterministic.
    on_gpu = load(f"hf/{llava_dir}", LoadOptions(device="cuda"), "generator")
    original = picture(seed=9)
    result = perturb_image(on_gpu, original, PROMPT, settings(seed=3))
    delta = np.asarray(result.image, dtype=np.float64) - np.asarray(original, dtype=np.float64)
    assert 0 < np.abs(delta).max() <= 8.0 + 1e-6
    assert result.loss_after < result.loss_before
