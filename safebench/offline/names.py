"""Which ``safebench/…`` model names the offline stack can answer, checked without starting it.

Config validation calls :func:`offline_model_problem` so a misspelt offline model is a config
error naming the field, before any case runs; :class:`safebench.offline.stack.OfflineStack`
resolves the same names at run time. Only light modules are imported here (no litellm, no
server), because every config load pays for this check.
"""

from __future__ import annotations

from safebench.offline.judges import OFFLINE_JUDGES
from safebench.offline.jurors import OFFLINE_MODELS
from safebench.offline.sim_targets import SIM_PROFILES
from safebench.offline.study_jurors import REPLAY_PREFIX, SIMULATED_PREFIX, parse_temperament


def known_offline_names() -> list[str]:
    """Every fixed offline model name (without ``safebench/``), sorted."""
    return sorted({*SIM_PROFILES, *OFFLINE_MODELS, *OFFLINE_JUDGES})


def offline_model_problem(name: str) -> str | None:
    """Why ``name`` (without ``safebench/``) is not an offline model, or None when it is.

    Replayed jurors (``replay/<column>``) are accepted by shape only: their verdict tables are
    registered at run time by the labelled-set loader, after the config is read."""
    if name in SIM_PROFILES or name in OFFLINE_MODELS or name in OFFLINE_JUDGES:
        return None
    if name.startswith(REPLAY_PREFIX) and len(name) > len(REPLAY_PREFIX):
        return None
    if name.startswith(SIMULATED_PREFIX):
        try:
            parse_temperament(name.removeprefix(SIMULATED_PREFIX))
        except ValueError as exc:
            return str(exc)
        return None
    known = ", ".join(f"safebench/{n}" for n in known_offline_names())
    return (
        f"unknown offline model 'safebench/{name}'; offline models: {known}, "
        f"safebench/{REPLAY_PREFIX}<column>, safebench/{SIMULATED_PREFIX}<options>"
    )
