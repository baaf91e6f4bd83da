"""Projected gradient descent on an image against a local image-text checkpoint (BAP's first half).

The image is perturbed, within an L-infinity budget of ``epsilon`` pixel levels (0-255), to
make the checkpoint's own answer start with an affirmative prefix ("Sure, here is") given the
image and the prompt: gradient steps on the prefix's cross-entropy, each step projected back
into the budget and the valid pixel range. The gradient flows through a differentiable copy of
the processor's image preprocessing (resize, centre crop, rescale, normalise: CLIP-style image
processors, as LLaVA's), so the perturbation lives in the image file's own pixels. The result
is rounded to whole pixel levels inside the budget, so the PNG written keeps the promise
``max |perturbed - original| <= epsilon``.

The random start is drawn on the CPU from the seed, so a seed gives the same image on the CPU;
on a GPU, kernels whose backward pass sums in no fixed order (bicubic resizing, some cuDNN
convolutions) may flip the sign of a near-zero gradient, so two runs can differ slightly.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from agents.local.loader import LoadedModel
from agents.local.messages import build_prompt
from kernel.errors import ConfigError


@dataclass(frozen=True)
class PgdSettings:
    epsilon: float
    """L-infinity budget in pixel levels (0-255)."""
    step_size: float
    """Step per iteration, in pixel levels."""
    steps: int
    seed: int
    target: str
    """The affirmative prefix whose likelihood is maximised."""


@dataclass(frozen=True)
class PgdResult:
    image: Image.Image
    """The perturbed image: same size as the input, RGB."""
    loss_before: float
    """The prefix's cross-entropy with the original image."""
    loss_after: float
    """... and with the perturbed (rounded) image."""
    max_delta: int
    """Largest change of any pixel channel, in levels (never over ``epsilon``)."""


def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_processor(loaded: LoadedModel) -> Any:
    processor = getattr(loaded.processor, "image_processor", None)
    if processor is None or "image" not in loaded.modalities:
        raise ConfigError(f"{loaded.name}: pgd needs an image-text checkpoint with a vision tower")
    return processor


def _field(value: Any, key: str) -> int | None:
    # Slow processors keep sizes as dicts, fast ones as ``SizeDict`` objects.
    found = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return int(found) if found is not None else None


def _pair(value: Any) -> tuple[int, int] | None:
    height, width = _field(value, "height"), _field(value, "width")
    return (height, width) if height is not None and width is not None else None


def _preprocess(pixels: torch.Tensor, processor: Any) -> torch.Tensor:
    """What a CLIP-style image processor does, differentiably: ``pixels`` is (1, 3, H, W) in
    0-255; the result is the model's ``pixel_values``."""
    x = pixels
    if getattr(processor, "do_resize", False):
        size = processor.size
        height, width = x.shape[-2:]
        short = _field(size, "shortest_edge")
        if short is not None:
            scale = short / min(height, width)
            new = (max(1, round(height * scale)), max(1, round(width * scale)))
        elif (pair := _pair(size)) is not None:
            new = pair
        else:
            raise ConfigError(f"pgd: image processor size {size!r} is not CLIP-style")
        x = F.interpolate(x, size=new, mode="bicubic", align_corners=False, antialias=True)
    if getattr(processor, "do_center_crop", False):
        crop = _pair(processor.crop_size)
        if crop is None:
            raise ConfigError(f"pgd: image processor crop {processor.crop_size!r} is unreadable")
        top = max(0, (x.shape[-2] - crop[0]) // 2)
        left = max(0, (x.shape[-1] - crop[1]) // 2)
        x = x[..., top : top + crop[0], left : left + crop[1]]
    if getattr(processor, "do_rescale", True):
        x = x * float(getattr(processor, "rescale_factor", 1 / 255))
    if getattr(processor, "do_normalize", True):
        mean = torch.tensor(processor.image_mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(processor.image_std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        x = (x - mean) / std
    return x


class _Objective:
    """The prefix's cross-entropy as a function of the image's pixels (0-255, on device)."""

    def __init__(self, loaded: LoadedModel, image: Image.Image, text: str, target: str) -> None:
        self.loaded = loaded
        self.image_processor = _image_processor(loaded)
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": _data_uri(image)}},
                ],
            }
        ]
        prompt = build_prompt(loaded, messages).text
        device = loaded.device
        head = loaded.processor(text=[prompt], images=[image], return_tensors="pt")
        full = loaded.processor(text=[prompt + target], images=[image], return_tensors="pt")
        self.prompt_len = int(head["input_ids"].shape[1])
        self.input_ids = full["input_ids"].to(device)
        if self.input_ids.shape[1] <= self.prompt_len:
            raise ConfigError(f"pgd: the target {target!r} adds no token to the prompt")
        mask = full.get("attention_mask")
        self.attention_mask = mask.to(device) if mask is not None else None
        self.dtype = next(loaded.model.parameters()).dtype
        expected = tuple(full["pixel_values"].shape)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        got = tuple(_preprocess(pixels, self.image_processor).shape)
        if got != expected:
            raise ConfigError(
                f"{loaded.name}: pgd supports CLIP-style image processors (resize, centre crop, "
                f"normalise); {type(self.image_processor).__name__} gives pixel values "
                f"{expected}, not the {got} pgd computes"
            )

    def loss(self, pixels: torch.Tensor) -> torch.Tensor:
        pixel_values = _preprocess(pixels, self.image_processor).to(self.dtype)
        kwargs: dict[str, Any] = {"input_ids": self.input_ids, "pixel_values": pixel_values}
        if self.attention_mask is not None:
            kwargs["attention_mask"] = self.attention_mask
        logits = self.loaded.model(**kwargs).logits
        # Position i predicts token i + 1: the target's tokens from the end of the prompt on.
        predicted = logits[0, self.prompt_len - 1 : -1].float()
        wanted = self.input_ids[0, self.prompt_len :]
        return F.cross_entropy(predicted, wanted)


def _pixels(image: Image.Image, device: Any) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1)[None].to(device)


def prefix_loss(loaded: LoadedModel, image: Image.Image, text: str, target: str) -> float:
    """The cross-entropy of ``target`` as the answer's start, given ``image`` and ``text``."""
    image = image.convert("RGB")
    with loaded.lock, torch.no_grad():
        objective = _Objective(loaded, image, text, target)
        return float(objective.loss(_pixels(image, loaded.device)))


def perturb_image(
    loaded: LoadedModel, image: Image.Image, text: str, settings: PgdSettings
) -> PgdResult:
    """PGD on ``image`` (blocking: call it from a thread) for ``settings.steps`` steps."""
    if settings.epsilon <= 0 or settings.step_size <= 0 or settings.steps < 1:
        raise ConfigError("pgd: epsilon, step_size and steps must be positive")
    image = image.convert("RGB")
    device = loaded.device
    budget = float(settings.epsilon)
    whole = float(math.floor(budget))  # the rounded perturbation's budget: whole levels
    with loaded.lock:
        objective = _Objective(loaded, image, text, settings.target)
        original = _pixels(image, device)
        generator = torch.Generator().manual_seed(settings.seed)
        start = (torch.rand(original.shape, generator=generator) * 2 - 1) * budget
        delta = ((original + start.to(device)).clamp(0, 255) - original).detach()
        with torch.no_grad():
            before = float(objective.loss(original))
        for _ in range(settings.steps):
            delta.requires_grad_(True)
            loss = objective.loss(original + delta)
            # Only the image's gradient: the shared model's weights accumulate none.
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = delta - settings.step_size * grad.sign()
                delta = delta.clamp(-budget, budget)
                delta = ((original + delta).clamp(0, 255) - original).detach()
        rounded = torch.round(delta).clamp(-whole, whole)
        perturbed = (original + rounded).clamp(0, 255)
        with torch.no_grad():
            after = float(objective.loss(perturbed))
    array = perturbed[0].permute(1, 2, 0).round().to(torch.uint8).cpu().numpy()
    max_delta = int((perturbed - original).abs().max().item())
    return PgdResult(Image.fromarray(array, "RGB"), before, after, max_delta)
