"""How a config tunes a local model: the ``params`` of an ``hf/…`` or ``hf-classifier/…`` spec."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kernel.errors import ConfigError
from kernel.validation import validation_problems

Dtype = Literal["auto", "float32", "float16", "bfloat16"]
OptionsT = TypeVar("OptionsT", bound=BaseModel)


class LoadOptions(BaseModel):
    """What decides which weights are in memory; two specs that agree here share one model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dtype: Dtype | None = None
    """Weights' dtype. Left out: ``float32`` on CPU, the checkpoint's own (``auto``) on CUDA."""
    device: str = "cpu"
    """Where the model runs: ``cpu``, ``cuda``, ``cuda:1``, ``mps``. Ignored when
    ``device_map`` is set."""
    device_map: str | dict[str, Any] | None = None
    """Spread a large model over devices (``auto``; needs the ``accelerate`` package)."""
    cache_dir: str | None = None
    """Hugging Face cache to read hub ids from (default: ``HF_HOME``'s). Hub downloads are
    skipped when ``HF_HUB_OFFLINE=1``."""
    trust_remote_code: bool = False
    """Run the checkpoint's own Python code (InternVL, MiniCPM-V, Phi-3.5-Vision, GLM-4V
    need it). Off by default: it executes code shipped with the weights."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) of a hub id; ignored for a local directory."""


class BatchOptions(BaseModel):
    """How concurrent calls to one model are gathered into one forward pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(8, ge=1, le=512)
    """Most requests in one ``generate`` (or classifier forward) call."""
    max_wait_ms: float = Field(10.0, ge=0)
    """How long the first request of a batch waits for others to join it."""
    max_batch_tokens: int | None = Field(None, ge=1)
    """Memory budget of one batch, in tokens (rows x (padded prompt + new tokens)). A batch
    over it is split before it runs, as after an out-of-memory error; one request over it
    fails alone. None: no budget, only real out-of-memory errors split a batch."""


class HFOptions(LoadOptions, BatchOptions):
    """``params`` of an ``hf/<dir or hub id>`` target, juror or foreperson."""

    max_new_tokens: int = Field(256, ge=1)
    """Most tokens generated per answer."""
    max_tokens: int | None = Field(None, ge=1)
    """OpenAI-style alias of ``max_new_tokens`` (wins when both are given)."""
    temperature: float = Field(0.0, ge=0)
    """Sampling temperature; 0 means greedy decoding."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling mass (sampling only)."""
    do_sample: bool | None = None
    """Sample instead of greedy decoding. Left out: sample exactly when temperature > 0."""
    seed: int | None = None
    """Seed of the sampler for each batch, so that a sampled run can be repeated."""
    ignore_eos: bool = False
    """Generate exactly the most new tokens, past any end token (benchmarks, as vLLM's
    ``ignore_eos``); the answer is then not cut at the end token either."""

    @property
    def new_tokens(self) -> int:
        return self.max_tokens or self.max_new_tokens

    @property
    def sampling(self) -> bool:
        return self.temperature > 0 if self.do_sample is None else self.do_sample

    def generation_key(self) -> tuple[Any, ...]:
        """Requests that share this key can share one ``generate`` call."""
        return (
            self.new_tokens,
            self.sampling,
            self.temperature,
            self.top_p,
            self.seed,
            self.ignore_eos,
        )


class ClassifierOptions(LoadOptions, BatchOptions):
    """``params`` of an ``hf-classifier/<dir or hub id>`` juror."""

    scoring: Literal["sequence", "next_token"] = "sequence"
    """``sequence``: a sequence-classification head scores (request, answer) pairs.
    ``next_token``: a generative judge (Llama Guard, HarmBench's classifier) is prompted
    once and the probability of ``harmful_token`` against ``safe_token`` as its next token
    is the harm probability; nothing is generated."""
    harmful_label: int | str = 1
    """``sequence``: the class that means "the answer is harmful": an index, or a label name
    from the checkpoint's ``id2label`` (e.g. ``unsafe``)."""
    prompt: str | None = None
    """``next_token``: the judge's prompt, with ``{request}`` and ``{answer}`` placeholders
    (HarmBench's classifier prompt, say). Left out: the checkpoint's chat template over a
    user turn (the request) and an assistant turn (the answer), Llama Guard's format."""
    harmful_token: str = "unsafe"
    """``next_token``: the word whose first token means harmful (``unsafe``; ``Yes``)."""
    safe_token: str = "safe"
    """``next_token``: the word whose first token means safe (``safe``; ``No``)."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """Harmful when the harmful class's probability is at least this."""
    max_length: int = Field(512, ge=8)
    """Request and answer are truncated (answer first) to this many tokens together."""
    category: str | None = None
    """Risk category put on harmful votes; left out, the case's own category is used."""
    prompt_in_message: bool = False
    """``next_token``: the juror's message is the judge's whole prompt, as a judge format
    renders it (the seat of a juror with ``format:`` sets this): it is scored as sent, its
    image included, and the reply is the more likely of the two words with both words'
    log-probabilities, which the format reads like a server's answer."""
    add_bos: bool = True
    """With ``prompt_in_message``: put the tokenizer's BOS token before the prompt (False
    for formats whose prompt already starts with it, as Llama Guard's does)."""


def parse_options(kind: type[OptionsT], model: str, params: dict[str, Any]) -> OptionsT:
    """``params`` as ``kind``, or a ConfigError naming the model and the bad field."""
    try:
        return kind.model_validate(params)
    except ValidationError as exc:
        problems = validation_problems(exc, root="params")
        raise ConfigError(f"{model}: invalid params: {problems}") from None
