"""Jurors that see what the target saw: a juror whose model declares ``accepts: [text, image]``
gets the query's image with its first brief, one that accepts audio the query's speech; the
others get today's text note.

Over HTTP, jurors are ``openai/<name>`` models on the scripted ``openai_server``, and what each
was sent is read back from the server's request log. Through ``hf/``, the juror is the tiny
random-weight LLaVA of ``tests.agents.tiny_models``: its reply never parses (it abstains), and
the image reaching it is read from the model's own counters.
"""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from agents.gateway import Gateway, GatewaySettings
from generation.dataset import media_ref_for
from jury.config import JuryConfig
from jury.courtroom import Courtroom
from jury.prompts import ATTACHED_NOTE, MODALITY_NOTE, CaseFile
from kernel.records import Modality
from tests.jury.test_courtroom import FAST, case_file, chats, seat, spec
from tests.support.media import wav_bytes
from tests.support.sim_server import SimServer

JPEG = "image/jpeg"


def jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def wav() -> bytes:
    return wav_bytes(rate=16_000, samples=8_000)


def media_case(root: Path, modality: Modality) -> CaseFile:
    """An image or audio case over files in ``root``; the image is a JPEG declared PNG, so
    that its true type (from its bytes) is what must reach the juror."""
    (root / "media").mkdir(parents=True, exist_ok=True)
    base = replace(case_file(case_id=f"sim-leaky::q-001::{modality}"), modality=modality)
    if modality == "image":
        (root / "media/q1.jpg").write_bytes(jpeg((200, 10, 10)))
        ref = media_ref_for(root, Path("media/q1.jpg"), "image/png")
        return replace(base, media_root=root, image=ref)
    (root / "media/q1.wav").write_bytes(wav())
    ref = media_ref_for(root, Path("media/q1.wav"), "audio/wav", voice="female")
    return replace(base, media_root=root, audio=ref)


def parts(content: object, kind: str) -> list[dict[str, object]]:
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, dict) and p.get("type") == kind]


async def test_the_image_reaches_the_vision_juror_and_not_the_text_only_one(
    openai_server: SimServer, tmp_path: Path
) -> None:
    seat(openai_server, "kestrel", True)
    seat(openai_server, "osprey", False)
    config = JuryConfig.model_validate(
        {
            "rounds": 1,
            "early_stop": [],
            "jurors": [
                {**spec(openai_server, "kestrel"), "accepts": ["text", "image"]},
                spec(openai_server, "osprey"),
            ],
        }
    )
    case = media_case(tmp_path, "image")
    record = await Courtroom(config, Gateway(FAST)).judge(case)
    assert record.verdict is not None and len(record.votes) == 4

    vision = chats(openai_server, "kestrel")
    first_user = next(m for m in vision[0].messages if m["role"] == "user")
    (image,) = parts(first_user["content"], "image_url")
    # Sent as the target got it: the file's own bytes, typed by what they are (JPEG).
    data = (tmp_path / "media/q1.jpg").read_bytes()
    expected = f"data:{JPEG};base64,{base64.b64encode(data).decode('ascii')}"
    assert image["image_url"] == {"url": expected}
    assert ATTACHED_NOTE["image"] in vision[0].last_user_text()
    # The image stays in the juror's context for the deliberation round, sent once per call.
    assert sum(len(parts(m["content"], "image_url")) for m in vision[1].messages) == 1

    for request in chats(openai_server, "osprey"):
        assert not request.has_part("image_url")
    text_brief = chats(openai_server, "osprey")[0].last_user_text()
    assert MODALITY_NOTE["image"] in text_brief and ATTACHED_NOTE["image"] not in text_brief


async def test_speech_reaches_the_juror_that_accepts_audio_as_input_audio(
    openai_server: SimServer, tmp_path: Path
) -> None:
    seat(openai_server, "kestrel", True)
    seat(openai_server, "heron", True)
    config = JuryConfig.model_validate(
        {
            "rounds": 0,
            "jurors": [
                {**spec(openai_server, "kestrel"), "accepts": ["text", "audio"]},
                {**spec(openai_server, "heron"), "accepts": ["text", "image"]},
            ],
        }
    )
    await Courtroom(config, Gateway(FAST)).judge(media_case(tmp_path, "audio"))

    (heard,) = chats(openai_server, "kestrel")
    first_user = next(m for m in heard.messages if m["role"] == "user")
    (audio,) = parts(first_user["content"], "input_audio")
    data = base64.b64encode((tmp_path / "media/q1.wav").read_bytes()).decode("ascii")
    assert audio["input_audio"] == {"data": data, "format": "wav"}
    assert ATTACHED_NOTE["audio"] in heard.last_user_text()
    # A vision juror on an audio case hears nothing: it gets the text note.
    (seen,) = chats(openai_server, "heron")
    assert not seen.has_part("input_audio") and not seen.has_part("image_url")
    assert MODALITY_NOTE["audio"] in seen.last_user_text()


async def test_a_text_case_sends_no_media_even_to_a_vision_juror(
    openai_server: SimServer,
) -> None:
    seat(openai_server, "kestrel", True)
    config = JuryConfig.model_validate(
        {"rounds": 0, "jurors": [{**spec(openai_server, "kestrel"), "accepts": ["text", "image"]}]}
    )
    await Courtroom(config, Gateway(FAST)).judge(case_file())
    (request,) = chats(openai_server, "kestrel")
    assert isinstance(request.messages[-1]["content"], str)
    assert MODALITY_NOTE["text"] in request.last_user_text()


def test_a_juror_must_accept_text() -> None:
    with pytest.raises(ValueError, match="accepts must include text"):
        JuryConfig.model_validate({"jurors": [{"model": "openai/a", "accepts": ["image"]}]})


async def test_the_image_reaches_the_tiny_llava_juror_through_hf(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytest.importorskip("torch")
    from agents.local.stats import stats_for
    from tests.agents.tiny_models import build_llava_model

    llava = build_llava_model(tmp_path_factory.mktemp("hf") / "tiny-llava")
    model = f"hf/{llava}"
    config = JuryConfig.model_validate(
        {
            "rounds": 0,
            "max_reasks": 0,
            "jurors": [
                {"model": model, "accepts": ["text", "image"], "params": {"max_new_tokens": 4}}
            ],
        }
    )
    before = stats_for(model).snapshot()
    gateway = Gateway(GatewaySettings(max_retries=0, timeout_s=120.0))
    try:
        record = await Courtroom(config, gateway).judge(media_case(tmp_path, "image"))
    finally:
        await gateway.aclose()
    now = stats_for(model).snapshot()
    # One call, and its image went through LLaVA's CLIP processor at its 28x28 crop.
    assert now.pixel_values[len(before.pixel_values) :] == [(1, 3, 28, 28)]
    (vote,) = record.votes
    assert vote.abstained and vote.abstain_cause == "unreadable"  # random weights: no vote


def test_the_pipeline_gives_the_courtroom_the_media_of_the_cases_modality(tmp_path: Path) -> None:
    from jury.case import case_media
    from kernel.records import Query

    image = media_case(tmp_path, "image").image
    audio = media_case(tmp_path, "audio").audio
    assert image is not None and audio is not None
    query = Query(id="q1", category="c", scenario="s", text="t", image=image, audio=(audio,))
    assert case_media(query, "image", tmp_path) == {"media_root": tmp_path, "image": image}
    assert case_media(query, "audio", tmp_path) == {"media_root": tmp_path, "audio": audio}
    assert case_media(query, "text", tmp_path) == {}
    assert case_media(query, "image", None) == {}  # a store that recorded no dataset root
