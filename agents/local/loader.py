"""Loading a local checkpoint once per process: config, the right model class, its processor.

A model string is ``hf/<dir or hub id>`` (generation) or ``hf-classifier/<dir or hub id>``
(a sequence classifier). A path that looks like one (absolute, ``./``, ``~``, or more than
one ``/``) must exist; anything else is tried as a local directory, then as a hub id, read
from the cache only when ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog

from agents.local.options import LoadOptions, parse_options
from agents.local.stats import ModelStats, stats_for
from kernel.errors import ConfigError
from kernel.records import Modality

log = structlog.get_logger(__name__)

Kind = Literal["generator", "classifier"]
PREFIXES: dict[str, Kind] = {"hf": "generator", "hf-classifier": "classifier"}


@dataclass
class LoadedModel:
    """Weights in memory and what feeds them; shared by every call to the same model string."""

    name: str
    """The model string, e.g. ``hf//models/llava``."""
    source: str
    """The directory or hub id it was read from."""
    kind: Kind
    model: Any
    processor: Any
    """An ``AutoProcessor`` for multimodal checkpoints, else the tokenizer."""
    tokenizer: Any
    modalities: frozenset[Modality]
    stats: ModelStats
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while the model computes: batches from several gateways never overlap."""

    @property
    def device(self) -> Any:
        return self.model.device

    @property
    def sampling_rate(self) -> int:
        extractor = getattr(self.processor, "feature_extractor", None)
        return int(getattr(extractor, "sampling_rate", 16_000))


def split_model(model: str) -> tuple[Kind, str]:
    """The kind of local model and its source (directory or hub id) from a model string."""
    provider, _, source = model.partition("/")
    if provider not in PREFIXES or not source:
        raise ConfigError(
            f"{model!r} is not a local model string; write hf/<dir or hub id> or "
            "hf-classifier/<dir or hub id>"
        )
    return PREFIXES[provider], source


def hub_offline() -> bool:
    """HF_HUB_OFFLINE read now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def looks_like_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or source.count("/") > 1


def resolve_source(model: str, source: str) -> str:
    """A local directory as an absolute path, or the hub id unchanged; ConfigError if neither."""
    path = Path(source).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if looks_like_path(source) or path.exists():
        raise ConfigError(
            f"{model}: no model directory {str(path)!r} (it does not exist or is not a "
            "directory); point hf/ at a directory holding config.json and the weights"
        )
    return source


def _hub_kwargs(options: LoadOptions) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"trust_remote_code": options.trust_remote_code}
    if options.cache_dir:
        kwargs["cache_dir"] = options.cache_dir
    if options.revision:
        kwargs["revision"] = options.revision
    if hub_offline():
        kwargs["local_files_only"] = True
    return kwargs


def _unreadable(model: str, source: str, exc: BaseException) -> ConfigError:
    where = (
        "the directory"
        if Path(source).is_dir()
        else "the Hugging Face cache (HF_HUB_OFFLINE is set, so nothing is downloaded)"
        if hub_offline()
        else "the directory or the Hugging Face hub (unreachable, or no such repository)"
    )
    reason = " ".join(str(exc).split())[:300]
    return ConfigError(
        f"{model}: cannot load {source!r} from {where}: {reason}. Give a local directory "
        "holding config.json and the weights, or a hub id already in the cache."
    )


def read_config(model: str, options: LoadOptions | None = None) -> Any:
    """The checkpoint's ``config.json`` (cheap: no weights), or a ConfigError naming it."""
    from transformers import AutoConfig

    options = options or LoadOptions()
    _, source = split_model(model)
    source = resolve_source(model, source)
    try:
        return AutoConfig.from_pretrained(source, **_hub_kwargs(options))
    except (OSError, ValueError) as exc:
        raise _unreadable(model, source, exc) from None


def modalities_of(config: Any) -> frozenset[Modality]:
    """What a checkpoint takes: text, plus image with a vision tower, audio with an encoder."""
    found: set[Modality] = {"text"}
    for name in ("vision_config", "visual", "vision_tower"):
        if getattr(config, name, None) is not None:
            found.add("image")
    if getattr(config, "audio_config", None) is not None:
        found.add("audio")
    return frozenset(found)


def checkpoint_modalities(model: str, params: dict[str, Any] | None = None) -> frozenset[Modality]:
    """Modalities of the checkpoint behind ``model``; a classifier judges text only."""
    kind, _ = split_model(model)
    loading = {k: v for k, v in (params or {}).items() if k in LoadOptions.model_fields}
    options = parse_options(LoadOptions, model, loading)
    config = read_config(model, options)
    return frozenset({"text"}) if kind == "classifier" else modalities_of(config)


def _generator_classes(modalities: frozenset[Modality]) -> list[Any]:
    import transformers

    # Audio-text checkpoints (Qwen2-Audio) are registered under the multimodal LM mapping;
    # image-text ones under image-text-to-text. Remote-code checkpoints (InternVL,
    # MiniCPM-V, Phi-3.5-Vision, GLM-4V) register themselves as causal LMs via auto_map.
    names = ["AutoModelForCausalLM"]
    if "image" in modalities:
        names = ["AutoModelForImageTextToText", "AutoModelForMultimodalLM", *names]
    if "audio" in modalities:
        names = ["AutoModelForMultimodalLM", "AutoModelForSeq2SeqLM", *names]
    return [getattr(transformers, n) for n in dict.fromkeys(names) if hasattr(transformers, n)]


def _dtype(options: LoadOptions) -> Any:
    import torch

    name = options.dtype
    if name is None:
        on_cpu = options.device_map is None and options.device == "cpu"
        name = "float32" if on_cpu else "auto"
    return name if name == "auto" else getattr(torch, name)


def _load_weights(model: str, source: str, classes: list[Any], options: LoadOptions) -> Any:
    kwargs = {**_hub_kwargs(options), "dtype": _dtype(options)}
    if options.device_map is not None:
        kwargs["device_map"] = options.device_map
    problems: list[str] = []
    for auto_class in classes:
        try:
            loaded = auto_class.from_pretrained(source, **kwargs)
        except ValueError as exc:  # "Unrecognized configuration class …": try the next class
            problems.append(f"{auto_class.__name__}: {' '.join(str(exc).split())[:200]}")
            continue
        except OSError as exc:
            raise _unreadable(model, source, exc) from None
        if options.device_map is None:
            loaded = loaded.to(options.device)
        loaded.eval()
        return loaded
    raise ConfigError(f"{model}: no transformers class loads {source!r}: {'; '.join(problems)}")


def _load_processor(model: str, source: str, multimodal: bool, options: LoadOptions) -> Any:
    from transformers import AutoProcessor, AutoTokenizer

    loader = AutoProcessor if multimodal else AutoTokenizer
    try:
        return loader.from_pretrained(source, **_hub_kwargs(options))
    except (OSError, ValueError) as exc:
        raise _unreadable(model, source, exc) from None


def _check_device(model: str, options: LoadOptions) -> None:
    import torch

    wants_cuda = options.device_map is None and options.device.startswith("cuda")
    if wants_cuda and not torch.cuda.is_available():
        raise ConfigError(
            f"{model}: device {options.device!r} asked for, but torch sees no CUDA device "
            f"(torch {torch.__version__}); use device: cpu or a CUDA build of torch"
        )


def _load(model: str, options: LoadOptions, kind: Kind) -> LoadedModel:
    from transformers import AutoModelForSequenceClassification

    _check_device(model, options)
    _, source = split_model(model)
    source = resolve_source(model, source)
    config = read_config(model, options)
    modalities = frozenset({"text"}) if kind == "classifier" else modalities_of(config)
    multimodal = modalities != {"text"}
    classes = (
        [AutoModelForSequenceClassification]
        if kind == "classifier"
        else _generator_classes(modalities)
    )
    weights = _load_weights(model, source, classes, options)
    processor = _load_processor(model, source, multimodal, options)
    tokenizer = getattr(processor, "tokenizer", processor)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Decoder-only batches must be left padded, so every row's answer starts at one column.
    tokenizer.padding_side = "left" if kind == "generator" else "right"
    stats = stats_for(model)
    stats.loads += 1
    log.info("local_model_loaded", model=model, source=source, modalities=sorted(modalities))
    return LoadedModel(model, source, kind, weights, processor, tokenizer, modalities, stats)


_loaded: dict[tuple[str, str, str], LoadedModel] = {}
_loading: dict[tuple[str, str, str], threading.Lock] = {}
_registry_lock = threading.Lock()


def load(model: str, options: LoadOptions, kind: Kind | None = None) -> LoadedModel:
    """The model in memory, loading it on first use (blocking: call it from a thread).

    ``kind`` overrides the prefix's: a ``next_token`` classifier juror loads a generator.
    """
    kind = kind or split_model(model)[0]
    key = (
        model,
        kind,
        json.dumps(options.model_dump(include=set(LoadOptions.model_fields)), sort_keys=True),
    )
    with _registry_lock:
        found = _loaded.get(key)
        if found is not None:
            return found
        lock = _loading.setdefault(key, threading.Lock())
    # One loader per model: concurrent first calls wait for it instead of loading twice.
    with lock:
        found = _loaded.get(key)
        if found is None:
            found = _loaded[key] = _load(model, options, kind)
        return found
