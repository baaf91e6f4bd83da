"""Which input modalities a model is known to accept, when the config does not say."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agents.llm import load_litellm
from agents.offline_catalog import OFFLINE_PREFIX, offline_entry
from kernel.errors import ConfigError
from kernel.records import ModalityKind

LOCAL_PREFIXES = ("hf/", "hf-classifier/")
"""Local transformers checkpoints: what they take is read from their config.json."""


def known_modalities(model: str, params: dict[str, Any] | None = None) -> frozenset[ModalityKind]:
    if model.startswith(LOCAL_PREFIXES):
        # Imported here: reading a checkpoint's config pulls in transformers.
        from agents.local.loader import checkpoint_modalities

        return checkpoint_modalities(model, params)
    if model.startswith(OFFLINE_PREFIX):
        # What each offline model takes is in the catalogue the offline stack fills.
        entry = offline_entry(model)
        if entry is None:
            # Never guess "text only" for an offline name: its image and audio cases would be
            # skipped as unsupported instead of refused as a config error.
            raise ConfigError(f"unknown offline model {model!r} (not in the offline catalogue)")
        return entry.accepts
    found: set[ModalityKind] = {"text"}
    # Loaded here, not at import: targets are imported whenever a config is read, and litellm
    # (seconds to import) is only needed to look up a provider's model.
    litellm = load_litellm()
    try:
        if litellm.supports_vision(model=model):
            found.add("image")
        if litellm.supports_audio_input(model=model):
            found.add("audio")
    except Exception:  # unknown to litellm's map: assume only what every model takes
        pass
    return frozenset(found)


def declared_modalities(
    model: str, accepts: Iterable[ModalityKind] | None, params: dict[str, Any] | None = None
) -> frozenset[ModalityKind]:
    """What a target takes: its config's ``accepts``, else what the model is known to take.

    A local checkpoint cannot take what it has no encoder for, so an ``accepts`` that names
    more than its config.json offers is refused here, before any case is sent.
    """
    if accepts and model.startswith(LOCAL_PREFIXES):
        known = known_modalities(model, params)
        extra = sorted(set(accepts) - known)
        if extra:
            raise ConfigError(
                f"target {model}: accepts {', '.join(extra)}, but the checkpoint takes only "
                f"{', '.join(sorted(known))} (its config.json has no "
                f"{' or '.join(m if m != 'image' else 'vision' for m in extra)}_config); "
                f"remove {', '.join(extra)} from accepts or use a multimodal checkpoint"
            )
    return frozenset(accepts or known_modalities(model, params))
