"""Image makers and speech engines are registries; the media settings accept their names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agents.gateway import Gateway, GatewaySettings
from agents.spec import ModelSpec
from generation.images import IMAGE_MAKERS, ImageMaker, image_maker
from generation.media import MediaSettings, render_media
from generation.speech import SPEECH_ENGINES, SpeechEngine, speech_engine
from kernel.records import Query
from kernel.registry import Registry

TTS = ModelSpec(model="openai/tts-1")
PAINTER = ModelSpec(model="openai/dall-e-3")


def test_the_built_in_makers_are_registered_with_what_they_need() -> None:
    assert {name: m.uses_model for name, m in IMAGE_MAKERS.items()} == {
        "typographic": False,
        "model": True,
    }
    assert {name: (e.uses_model, e.local) for name, e in SPEECH_ENGINES.items()} == {
        "espeak": (False, True),
        "tts": (True, False),
    }


def test_the_default_pick_follows_whether_a_model_is_set() -> None:
    assert image_maker(None, None) is IMAGE_MAKERS["typographic"]
    assert image_maker(None, PAINTER) is IMAGE_MAKERS["model"]
    assert speech_engine(None, None) is SPEECH_ENGINES["espeak"]
    assert speech_engine(None, TTS) is SPEECH_ENGINES["tts"]


@pytest.mark.parametrize(
    ("field", "model_field", "registry"),
    [
        ("image_maker", "image_model", IMAGE_MAKERS),
        ("speech_engine", "tts_model", SPEECH_ENGINES),
    ],
)
def test_settings_accept_exactly_the_registered_names(
    field: str, model_field: str, registry: Registry[ImageMaker] | Registry[SpeechEngine]
) -> None:
    for name, maker in registry.items():
        extra = {model_field: "openai/some-model"} if maker.uses_model else {}
        assert getattr(MediaSettings.model_validate({field: name, **extra}), field) == name
    with pytest.raises(ValidationError) as caught:
        MediaSettings.model_validate({field: "no-such-maker"})
    message = str(caught.value)
    assert "no-such-maker" in message
    assert all(name in message for name in registry)


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"image_maker": "model"}, "image_maker 'model' needs image_model"),
        (
            {"image_maker": "typographic", "image_model": "openai/dall-e-3"},
            "image_maker 'typographic' takes no image_model",
        ),
        ({"speech_engine": "tts"}, "speech_engine 'tts' needs tts_model"),
        (
            {"speech_engine": "espeak", "tts_model": "openai/tts-1"},
            "speech_engine 'espeak' takes no tts_model",
        ),
    ],
)
def test_a_maker_without_its_model_or_with_one_it_ignores_is_refused(
    settings: dict[str, str], said: str
) -> None:
    with pytest.raises(ValidationError, match=said):
        MediaSettings.model_validate(settings)


async def test_naming_the_default_maker_reuses_the_images_it_drew(tmp_path: Path) -> None:
    queries = [
        Query(id="q0", category="Cybersecurity", scenario="Malware Generation", text="Explain x.")
    ]
    gateway = Gateway(GatewaySettings(max_retries=0))
    first = await render_media(
        tmp_path, queries, MediaSettings(image_size=(64, 64), audio=False), gateway
    )
    assert first.images_rendered == 1
    named = MediaSettings(image_size=(64, 64), audio=False, image_maker="typographic")
    second = await render_media(tmp_path, first.queries, named, gateway)
    assert (second.images_rendered, second.images_reused) == (0, 1)
