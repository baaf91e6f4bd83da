"""``hf/<dir>`` models through the real gateway: tiny random-weight checkpoints built on the fly.

Nothing is downloaded and nothing is patched: each test loads a checkpoint directory that
``tiny_models`` wrote with ``save_pretrained``, through ``Gateway.complete`` and the ``hf``
transport, and reads what happened from the model's process-wide counters (``stats_for``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import wave
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from agents.gateway import Gateway, GatewaySettings
from agents.local.batcher import OverBudget, is_out_of_memory
from agents.local.options import ClassifierOptions, HFOptions, parse_options
from agents.local.stats import ModelStats, stats_for
from agents.spec import ModelSpec
from kernel.errors import ConfigError, ProviderError
from kernel.records import MediaRef, Query
from safebench.run.config import RunConfig, load_run_config
from safebench.run.pipeline import run_evaluation
from targets.base import TargetConfig, TargetContext
from targets.capabilities import known_modalities
from targets.litellm_target import LiteLLMTarget
from tests.agents.tiny_models import (
    build_audio_model,
    build_classifier,
    build_llava_model,
    build_text_model,
)

FAST = GatewaySettings(max_retries=0, timeout_s=60.0)
REPO = Path(__file__).resolve().parents[2]

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here"),
    ),
]


@pytest.fixture(scope="session")
def text_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_model(tmp_path_factory.mktemp("hf") / "tiny-llama")


@pytest.fixture(scope="session")
def llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_llava_model(tmp_path_factory.mktemp("hf") / "tiny-llava")


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_audio_model(tmp_path_factory.mktemp("hf") / "tiny-qwen2-audio")


def spec(directory: Path, **params: Any) -> ModelSpec:
    return ModelSpec(model=f"hf/{directory}", params={"max_new_tokens": 8, **params})


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


def with_image(text: str, data: bytes) -> list[dict[str, Any]]:
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": uri}},
            ],
        }
    ]


def wav(seconds: float, rate: int = 22_050) -> bytes:
    """A 16-bit mono tone, at espeak-ng's 22.05 kHz (the model wants 16 kHz)."""
    samples = (torch.sin(torch.arange(int(seconds * rate)) * 0.05) * 8000).to(torch.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.numpy().tobytes())
    return buffer.getvalue()


def spoken(data: bytes) -> list[dict[str, Any]]:
    audio = {"data": base64.b64encode(data).decode("ascii"), "format": "wav"}
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Answer the spoken request."},
                {"type": "input_audio", "input_audio": audio},
            ],
        }
    ]


def delta(model: str, before: ModelStats) -> ModelStats:
    now = stats_for(model).snapshot()
    return ModelStats(
        loads=now.loads - before.loads,
        requests=now.requests - before.requests,
        batches=now.batches[len(before.batches) :],
        oom_splits=now.oom_splits - before.oom_splits,
        failed=now.failed - before.failed,
        pixel_values=now.pixel_values[len(before.pixel_values) :],
        audio_features=now.audio_features[len(before.audio_features) :],
        stream_chunks=now.stream_chunks - before.stream_chunks,
    )


@pytest.mark.parametrize("device", DEVICES)
async def test_text_checkpoint_answers_through_the_gateway(text_dir: Path, device: str) -> None:
    model = spec(text_dir, device=device)
    gateway = Gateway(FAST)
    try:
        done = await gateway.complete(model, user("hello world"), scope="case-1/target")
        again = await gateway.complete(model, user("hello world"), scope="case-2/target")
    finally:
        await gateway.aclose()
    assert done.text.strip()
    assert done.text == again.text  # greedy decoding of the same prompt
    assert done.finish_reason in {"stop", "length"}
    assert done.usage.prompt_tokens > 0
    assert 0 < done.usage.completion_tokens <= 8
    assert gateway.stats.calls == 2 and gateway.stats.failures == 0


async def test_ignore_eos_generates_exactly_the_most_new_tokens(text_dir: Path) -> None:
    gateway = Gateway(FAST)
    try:
        done = await gateway.complete(
            spec(text_dir, max_new_tokens=20, ignore_eos=True), user("hello"), scope="e"
        )
    finally:
        await gateway.aclose()
    assert done.usage.completion_tokens == 20
    assert done.finish_reason == "length"


async def test_an_image_reaches_the_model_as_pixel_values(llava_dir: Path) -> None:
    model = spec(llava_dir)
    before = stats_for(model.model).snapshot()
    gateway = Gateway(FAST)
    try:
        red = await gateway.complete(model, with_image("describe", png((200, 0, 0))), scope="r")
        blue = await gateway.complete(model, with_image("describe", png((0, 0, 200))), scope="b")
        plain = await gateway.complete(model, user("describe"), scope="t")
    finally:
        await gateway.aclose()
    seen = delta(model.model, before)
    # Two images went through the CLIP processor at its 28x28 crop; the text call had none.
    assert seen.pixel_values == [(1, 3, 28, 28), (1, 3, 28, 28)]
    # The image tokens expand the prompt: 2x2 patches stand where one <image> marker was.
    assert red.usage.prompt_tokens > plain.usage.prompt_tokens
    assert red.text and blue.text and plain.text
    assert known_modalities(model.model) == {"text", "image"}


async def test_speech_reaches_the_audio_encoder_in_one_batch(audio_dir: Path) -> None:
    model = spec(audio_dir, batch_size=4, max_wait_ms=300)
    before = stats_for(model.model).snapshot()
    gateway = Gateway(FAST)
    try:
        short, longer = await asyncio.gather(
            gateway.complete(model, spoken(wav(1.0)), scope="a1"),
            gateway.complete(model, spoken(wav(2.0)), scope="a2"),
        )
    finally:
        await gateway.aclose()
    seen = delta(model.model, before)
    # Both waveforms, resampled to 16 kHz, became Whisper features (16 mel bins, 30 s) in
    # one generate call; the longer one stands for more audio tokens in its prompt.
    assert seen.batches == [2]
    assert seen.audio_features == [(2, 16, 3000)]
    assert longer.usage.prompt_tokens - short.usage.prompt_tokens == 25
    assert known_modalities(model.model) == {"text", "audio"}


async def test_streaming_hands_out_several_chunks_that_join_to_the_answer(text_dir: Path) -> None:
    model = spec(text_dir, max_new_tokens=24)
    before = stats_for(model.model).snapshot()
    gateway = Gateway(FAST)
    try:
        streamed = await gateway.complete(model, user("bake bread"), scope="s", stream=True)
        whole = await gateway.complete(model, user("bake bread"), scope="w", stream=False)
    finally:
        await gateway.aclose()
    assert delta(model.model, before).stream_chunks > 1
    assert streamed.text.strip() == whole.text.strip()


async def test_streamed_calls_still_share_a_batch_and_get_their_whole_answers(
    text_dir: Path,
) -> None:
    prompts = ["bake bread", "the lazy dog", "hello world", "tell me what you see"]
    model = spec(text_dir, batch_size=4, max_wait_ms=500, max_new_tokens=12)
    before = stats_for(model.model).snapshot()
    gateway = Gateway(FAST)
    try:
        streamed = await asyncio.gather(
            *(
                gateway.complete(model, user(p), scope=f"s{i}", stream=True)
                for i, p in enumerate(prompts)
            )
        )
        plain = await asyncio.gather(
            *(gateway.complete(model, user(p), scope=f"p{i}") for i, p in enumerate(prompts))
        )
    finally:
        await gateway.aclose()
    seen = delta(model.model, before)
    assert seen.batches == [4, 4]
    assert seen.stream_chunks == 4  # a batch of four is not streamed token by token
    assert [s.text for s in streamed] == [p.text for p in plain]


@pytest.mark.parametrize("device", DEVICES)
async def test_concurrent_requests_share_generate_calls(text_dir: Path, device: str) -> None:
    prompts = [f"{'the quick brown fox ' * (i % 3 + 1)}question {i}" for i in range(8)]
    batched = spec(text_dir, batch_size=8, max_wait_ms=500, device=device)
    before = stats_for(batched.model).snapshot()
    gateway = Gateway(FAST)
    try:
        answers = await asyncio.gather(
            *(gateway.complete(batched, user(p), scope=f"c{i}") for i, p in enumerate(prompts))
        )
        seen = delta(batched.model, before)
        alone = [
            await gateway.complete(
                spec(text_dir, batch_size=1, device=device), user(p), scope=f"a{i}"
            )
            for i, p in enumerate(prompts)
        ]
    finally:
        await gateway.aclose()
    assert seen.requests == 8
    assert seen.generate_calls < 8, seen.batches
    assert max(seen.batches) > 1
    # Left padding keeps each row's answer what it is alone (prompts of different lengths).
    # On CPU exactly; GPU kernels may round a padded batch differently, so not asserted there.
    if device == "cpu":
        assert [a.text for a in answers] == [a.text for a in alone]
    assert all(a.text for a in answers)


async def test_a_batch_over_memory_is_split_and_only_the_oversized_request_fails(
    text_dir: Path,
) -> None:
    # max_batch_tokens is the batcher's memory budget: a batch over it takes the same path as
    # a CUDA out-of-memory error (split in halves, retried; alone and still over: failed).
    short = [f"hello world {i}" for i in range(4)]
    huge = " ".join(["the quick brown fox jumps over the lazy dog"] * 12)
    model = spec(text_dir, batch_size=8, max_wait_ms=500, max_batch_tokens=60)
    before = stats_for(model.model).snapshot()
    gateway = Gateway(FAST)
    try:
        results = await asyncio.gather(
            *(
                gateway.complete(model, user(p), scope=f"m{i}")
                for i, p in enumerate([*short, huge])
            ),
            return_exceptions=True,
        )
    finally:
        await gateway.aclose()
    *fine, failed = results
    assert all(not isinstance(r, BaseException) and r.text for r in fine), fine
    assert isinstance(failed, ProviderError)
    assert "out of memory even for a single request" in str(failed)
    seen = delta(model.model, before)
    assert seen.oom_splits >= 1
    assert seen.failed == 1 and seen.requests == 5
    assert sum(seen.batches) == 4  # only the short requests ever reached generate
    assert gateway.stats.failures == 1 and gateway.stats.calls == 4


async def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ConfigError, match="no-such-model"):
        known_modalities(f"hf/{missing}")
    gateway = Gateway(FAST)
    try:
        with pytest.raises(ProviderError) as failed:
            await gateway.complete(spec(missing), user("hi"), scope="x")
    finally:
        await gateway.aclose()
    assert f"no model directory {str(missing)!r}" in str(failed.value)
    assert gateway.stats.failures == 1


def test_an_uncached_hub_id_offline_names_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"safebench-test/absent.*HF_HUB_OFFLINE"):
        known_modalities("hf/safebench-test/absent", {"cache_dir": str(tmp_path)})


async def test_text_only_checkpoint_declares_text_and_refuses_image(
    text_dir: Path, tmp_path: Path
) -> None:
    gateway = Gateway(FAST)
    context = TargetContext(dataset_root=tmp_path, gateway=gateway)
    config = TargetConfig(model=f"hf/{text_dir}")
    assert LiteLLMTarget(config, context).accepts == {"text"}  # image cases are skipped
    with pytest.raises(ConfigError, match=r"accepts image.*takes only text"):
        LiteLLMTarget(TargetConfig(model=f"hf/{text_dir}", accepts=["text", "image"]), context)
    # Sent anyway (a hand-written request), the image is refused, not silently dropped.
    try:
        with pytest.raises(ProviderError, match="takes only text"):
            await gateway.complete(spec(text_dir), with_image("hi", png((1, 2, 3))), scope="i")
    finally:
        await gateway.aclose()


async def test_an_hf_target_answers_an_image_query_from_the_dataset(
    llava_dir: Path, tmp_path: Path
) -> None:
    data = png((10, 120, 10))
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "q1.png").write_bytes(data)
    query = Query(
        id="q1",
        category="Cybersecurity",
        scenario="Malware Generation",
        text="describe the picture",
        image=MediaRef(
            path="img/q1.png", sha256=hashlib.sha256(data).hexdigest(), mime_type="image/png"
        ),
    )
    gateway = Gateway(FAST)
    target = LiteLLMTarget(
        TargetConfig(model=f"hf/{llava_dir}", params={"max_new_tokens": 6}),
        TargetContext(dataset_root=tmp_path, gateway=gateway),
    )
    before = stats_for(target.config.model).snapshot()
    try:
        reply = await target.answer(query, "image", case_id="tiny-llava::q1::image")
    finally:
        await gateway.aclose()
    assert target.accepts == {"text", "image"}
    assert reply.text and reply.call_key
    assert delta(target.config.model, before).pixel_values == [(1, 3, 28, 28)]


async def test_bad_params_name_the_field(text_dir: Path) -> None:
    gateway = Gateway(FAST)
    try:
        with pytest.raises(ProviderError, match=r"invalid params: batch_sise"):
            await gateway.complete(spec(text_dir, batch_sise=2), user("hi"), scope="p")
        if not torch.cuda.is_available():
            with pytest.raises(ProviderError, match=r"device 'cuda' asked for.*no CUDA device"):
                await gateway.complete(spec(text_dir, device="cuda"), user("hi"), scope="d")
    finally:
        await gateway.aclose()


def test_the_local_models_example_is_a_valid_config() -> None:
    config = load_run_config(REPO / "examples" / "local-models.yaml")
    specs = [*config.targets, *config.jury.jurors]
    local = [s for s in specs if s.model.startswith(("hf/", "hf-classifier/"))]
    assert len(local) >= 9
    for model in local:  # every params block is a valid set of transport options
        kind = ClassifierOptions if model.model.startswith("hf-classifier/") else HFOptions
        parse_options(kind, model.model, model.params)


async def test_a_run_with_local_targets_and_a_classifier_juror_resumes_without_calls(
    text_dir: Path, llava_dir: Path, tmp_path: Path
) -> None:
    classifier = build_classifier(tmp_path / "tiny-classifier")
    config = RunConfig.model_validate(
        {
            "name": "hf-run",
            "dataset": "builtin:seed",
            "modalities": ["text", "image"],
            "limit": 2,
            "store": str(tmp_path / "run.sqlite"),
            "targets": [
                {"model": f"hf/{llava_dir}", "name": "tiny-llava", "params": {"max_new_tokens": 6}},
                {"model": f"hf/{text_dir}", "name": "tiny-text", "params": {"max_new_tokens": 6}},
            ],
            "jury": {
                "jurors": [
                    {"model": f"hf-classifier/{classifier}", "params": {"harmful_label": "unsafe"}},
                    {"model": "safebench/pattern-juror", "persona": "Ethicist"},
                ],
                "rounds": 1,
            },
        }
    )
    first = await run_evaluation(config)
    # The LLaVA target takes both modalities; the text-only one's image cases are skipped.
    assert first.counts == {"judged": 6, "skipped": 2}
    again = await run_evaluation(config)
    assert again.model_calls == 0 and again.counts == first.counts


def test_out_of_memory_is_recognised_in_the_forms_torch_raises() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_out_of_memory(OverBudget("over max_batch_tokens"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
