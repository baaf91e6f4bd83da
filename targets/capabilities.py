"""Which input modalities a model is known to accept, when the config does not say."""

from __future__ import annotations

from agents.llm import litellm
from agents.offline.sim_targets import SIM_PROFILES
from agents.spec import OFFLINE_PREFIX
from safebench.records import Modality


def known_modalities(model: str) -> frozenset[Modality]:
    if model.startswith(OFFLINE_PREFIX):
        profile = SIM_PROFILES.get(model.removeprefix(OFFLINE_PREFIX))
        if profile is not None:
            return frozenset(profile.accepts)
        return frozenset({"text"})
    found: set[Modality] = {"text"}
    try:
        if litellm.supports_vision(model=model):
            found.add("image")
        if litellm.supports_audio_input(model=model):
            found.add("audio")
    except Exception:  # unknown to litellm's map: assume only what every model takes
        pass
    return frozenset(found)
