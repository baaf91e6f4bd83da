"""Media are sent as what their bytes are, not what the dataset declares (issue 12.9).

Each mismatched file goes through a real ``LiteLLMTarget`` to a scripted server over HTTP: a
JPEG declared PNG arrives as ``data:image/jpeg``, a WebP as ``image/webp``; an animated GIF,
a BMP, text declared as WAV and bytes that are no image fail the case with a reason naming the
file (never a ``<_io.BytesIO object at 0x…>``), and nothing is sent for them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.gateway import Gateway, GatewaySettings
from generation.dataset import media_ref_for
from kernel.errors import DatasetError
from kernel.records import Query
from safebench.offline.wire import ChatRequest
from targets.base import TargetConfig, TargetContext
from targets.litellm_target import LiteLLMTarget
from tests.support.media import image_bytes, wav_bytes
from tests.support.sim_server import SimServer

SETTINGS = GatewaySettings(max_retries=0, timeout_s=60)


def query_with(root: Path, name: str, data: bytes, mime: str, audio: bool = False) -> Query:
    (root / name).write_bytes(data)
    ref = media_ref_for(root, root / name, mime)
    media = {"audio": (ref,)} if audio else {"image": ref}
    return Query(id=name, category="c", scenario="s", text="What is shown?", **media)


async def ask(server: SimServer, root: Path, query: Query, modality: str) -> str:
    config = TargetConfig(
        model="openai/seer",
        api_base=server.base_url,
        api_key="sk-test",
        accepts=["text", "image", "audio"],
    )
    gateway = Gateway(SETTINGS)
    try:
        target = LiteLLMTarget(config, TargetContext(root, gateway))
        reply = await target.answer(query, modality, case_id=f"c-{query.id}")  # type: ignore[arg-type]
    finally:
        await gateway.aclose()
    return reply.text


@pytest.fixture
def seer(openai_server: SimServer) -> tuple[SimServer, list[ChatRequest]]:
    seen: list[ChatRequest] = []

    def respond(request: ChatRequest) -> str:
        seen.append(request)
        return "seen"

    openai_server.add_model("seer", respond)
    return openai_server, seen


def sent_parts(request: ChatRequest) -> list[dict]:
    [user] = [m for m in request.messages if m["role"] == "user"]
    return [p for p in user["content"] if isinstance(p, dict)]


@pytest.mark.parametrize(
    ("fmt", "declared", "sent"),
    [
        ("JPEG", "image/png", "image/jpeg"),
        ("WEBP", "image/png", "image/webp"),
        ("PNG", "image/png", "image/png"),
    ],
)
async def test_an_image_is_sent_as_its_bytes_say(
    seer: tuple[SimServer, list[ChatRequest]],
    tmp_path: Path,
    fmt: str,
    declared: str,
    sent: str,
) -> None:
    server, seen = seer
    query = query_with(tmp_path, f"picture.{fmt.lower()}", image_bytes(fmt), declared)
    assert await ask(server, tmp_path, query, "image") == "seen"
    [image] = [p for p in sent_parts(seen[0]) if p["type"] == "image_url"]
    assert image["image_url"]["url"].startswith(f"data:{sent};base64,")


@pytest.mark.parametrize(
    ("name", "data", "declared", "reason"),
    [
        ("moving.gif", image_bytes("GIF", frames=3), "image/gif", "animated GIF"),
        ("bitmap.png", image_bytes("BMP"), "image/png", "is BMP"),
        ("notes.png", b"just some text, no pixels here", "image/png", "is not an image"),
    ],
)
async def test_an_image_models_cannot_take_fails_its_case_naming_the_file(
    seer: tuple[SimServer, list[ChatRequest]],
    tmp_path: Path,
    name: str,
    data: bytes,
    declared: str,
    reason: str,
) -> None:
    server, seen = seer
    query = query_with(tmp_path, name, data, declared)
    with pytest.raises(DatasetError) as info:
        await ask(server, tmp_path, query, "image")
    assert name in str(info.value) and reason in str(info.value)
    assert "BytesIO" not in str(info.value)
    assert seen == []


async def test_audio_is_sent_as_its_container_and_text_declared_wav_fails(
    seer: tuple[SimServer, list[ChatRequest]], tmp_path: Path
) -> None:
    server, seen = seer
    # WAV bytes declared MP3 go as wav; a text file declared WAV is refused.
    good = query_with(tmp_path, "speech.mp3", wav_bytes(), "audio/mpeg", audio=True)
    assert await ask(server, tmp_path, good, "audio") == "seen"
    [audio] = [p for p in sent_parts(seen[0]) if p["type"] == "input_audio"]
    assert audio["input_audio"]["format"] == "wav"
    bad = query_with(
        tmp_path, "speech.wav", b"hello, I am not audio at all", "audio/wav", audio=True
    )
    with pytest.raises(DatasetError, match=r"speech\.wav.*not WAV or MP3"):
        await ask(server, tmp_path, bad, "audio")
    assert len(seen) == 1
