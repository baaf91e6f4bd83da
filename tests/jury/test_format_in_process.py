"""Judge formats seated in process (``hf-classifier/<dir>``) on tiny checkpoints of the real
architectures: Llama (HarmBench cls, Llama Guard 3), Gemma 2 (ShieldGemma), Mllama (Llama Guard
3 Vision, with the case's image).

The seat scores the format's own prompt on its next token, the format's harmful word against
its safe word. Each test computes that probability independently with transformers from the
rendered prompt (the BOS token added only where the format's prompt does not carry it) and
checks the vote says the same: a wrong prompt, a doubled BOS or a lost image would move it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import AutoModelForCausalLM, AutoProcessor, AutoTokenizer

from agents.gateway import Gateway, GatewaySettings
from jury.config import JuryConfig
from jury.courtroom import Courtroom
from jury.formats import JUDGE_FORMATS
from jury.formats.seat import format_input
from kernel.records import MediaRef
from tests.jury.test_formatted_jurors import case_file
from tests.jury.tiny_judges import build_gemma_judge, build_llama_judge, build_mllama_judge

FAST = GatewaySettings(max_retries=0, backoff_base_s=0.01, backoff_max_s=0.02, timeout_s=600.0)
BUILDERS = {"llama": build_llama_judge, "gemma": build_gemma_judge, "mllama": build_mllama_judge}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("judges")
    return {name: build(root / name) for name, build in BUILDERS.items()}


def expected_probability(
    directory: Path, format_name: str, prompt: str, image: Any = None
) -> float:
    """P(harmful word) against the safe word as the next token, computed apart from SafeBench."""
    fmt = JUDGE_FORMATS[format_name]
    assert fmt.words is not None
    add_bos = not fmt.bos_in_prompt
    if image is None:
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForCausalLM.from_pretrained(directory)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=add_bos)
    else:
        from transformers import MllamaForConditionalGeneration

        processor = AutoProcessor.from_pretrained(directory)
        tokenizer = processor.tokenizer
        model = MllamaForConditionalGeneration.from_pretrained(directory)
        inputs = processor(
            text=[prompt], images=[image], return_tensors="pt", add_special_tokens=add_bos
        )
    ids = [tokenizer.encode(word, add_special_tokens=False)[0] for word in fmt.words]
    with torch.inference_mode():
        logits = model(**inputs).logits[0, -1].float()
    return float(torch.softmax(logits[ids], dim=-1)[0])


def seat(directory: Path, format_name: str, **more: Any) -> dict[str, Any]:
    return {"model": f"hf-classifier/{directory}", "format": format_name, **more}


@pytest.mark.parametrize(
    ("format_name", "architecture"),
    [("harmbench-cls", "llama"), ("llama-guard-3", "llama"), ("shieldgemma", "gemma")],
)
async def test_a_text_format_is_scored_in_process_as_its_prompt_says(
    checkpoints: dict[str, Path], format_name: str, architecture: str
) -> None:
    directory = checkpoints[architecture]
    config = JuryConfig.model_validate(
        {"jurors": [seat(directory, format_name)], "rounds": 0, "early_stop": []}
    )
    case = case_file()
    gateway = Gateway(FAST)
    try:
        record = await Courtroom(config, gateway).judge(case)
    finally:
        await gateway.aclose()
    prompt = JUDGE_FORMATS[format_name].render(format_input(case, shown=False))
    probability = expected_probability(directory, format_name, prompt)
    (vote,) = record.votes
    assert vote.rubric == f"{format_name}@1"
    assert vote.payload is not None
    assert vote.payload.harmful == (probability >= 0.5)
    confidence = probability if vote.payload.harmful else 1 - probability
    assert vote.payload.confidence == pytest.approx(confidence, abs=1e-5)


async def test_llama_guard_3_vision_sees_the_case_image_in_process(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    picture = Image.new("RGB", (40, 30), (200, 30, 30))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "q.png").write_bytes(buffer.getvalue())
    case = replace(
        case_file(image=True),
        image=MediaRef(
            path="images/q.png",
            sha256=hashlib.sha256(buffer.getvalue()).hexdigest(),
            mime_type="image/png",
        ),
        media_root=tmp_path,
    )
    directory = checkpoints["mllama"]
    juror = seat(directory, "llama-guard-3-vision", accepts=["text", "image"])
    config = JuryConfig.model_validate({"jurors": [juror], "rounds": 0, "early_stop": []})
    gateway = Gateway(FAST)
    try:
        record = await Courtroom(config, gateway).judge(case)
    finally:
        await gateway.aclose()
    prompt = JUDGE_FORMATS["llama-guard-3-vision"].render(format_input(case, shown=True))
    assert prompt.count("<|image|>") == 1
    with_image = expected_probability(directory, "llama-guard-3-vision", prompt, picture)
    (vote,) = record.votes
    assert vote.payload is not None, vote.parse_error
    confidence = with_image if vote.payload.harmful else 1 - with_image
    assert vote.payload.confidence == pytest.approx(confidence, abs=1e-5)
    # The image moved the score: the same prompt on another image scores otherwise.
    other = Image.new("RGB", (40, 30), (10, 220, 40))
    assert expected_probability(directory, "llama-guard-3-vision", prompt, other) != pytest.approx(
        with_image, abs=1e-7
    )


def test_a_format_answered_on_several_lines_cannot_be_scored_in_process() -> None:
    with pytest.raises(ValueError, match="serve the model"):
        JuryConfig.model_validate({"jurors": [seat(Path("/nowhere"), "wildguard")]})


async def test_a_checkpoint_seated_plain_and_formatted_votes_in_both_seats(
    checkpoints: dict[str, Path],
) -> None:
    # The two seats share the loaded model; a batch of one seat's work once ran the other's
    # function (a probability where a pair of log-probabilities was read: TypeError).
    directory = checkpoints["llama"]
    plain = {"model": f"hf-classifier/{directory}", "params": {"scoring": "next_token"}}
    config = JuryConfig.model_validate(
        {"jurors": [plain, seat(directory, "harmbench-cls")], "rounds": 0, "early_stop": []}
    )
    gateway = Gateway(FAST)
    try:
        record = await Courtroom(config, gateway).judge(case_file())
    finally:
        await gateway.aclose()
    assert [v.juror for v in record.votes if v.payload is not None] == ["juror-1", "juror-2"]


def test_a_formatted_in_process_seat_scoring_otherwise_is_refused_before_any_call() -> None:
    # It was refused at each call (a run of failed cases); the config names it now.
    juror = seat(Path("/nowhere"), "llama-guard-3", params={"scoring": "sequence"})
    with pytest.raises(ValueError, match=r"leave params\.scoring out"):
        JuryConfig.model_validate({"jurors": [juror]})
