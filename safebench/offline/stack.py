"""The built-in offline stack: routes ``safebench/…`` model names to something that answers.

- ``safebench/sim-…`` targets are served over real HTTP by an in-process OpenAI-compatible
  server, and reached through litellm's ``openai/`` path, exactly as a vLLM server would be.
- ``safebench/<juror>`` models are a litellm custom provider (in process).
Every other model string goes to its provider unchanged.
"""

from __future__ import annotations

import asyncio

from agents.gateway import Route, direct_route
from agents.offline_catalog import OFFLINE_PREFIX, known_offline_names
from agents.spec import ModelSpec
from kernel.errors import ConfigError
from safebench.offline.judges import OFFLINE_JUDGES
from safebench.offline.models import OFFLINE_MODELS
from safebench.offline.provider import register_offline_provider
from safebench.offline.server import OpenAICompatServer
from safebench.offline.sim_targets import SIM_PROFILES, build_sim_server
from safebench.offline.study_jurors import study_model

OFFLINE_KEY = "sk-offline-not-a-secret"


class OfflineStack:
    """Starts what the offline models need, on first use, and stops it at the end."""

    def __init__(self) -> None:
        self._server: OpenAICompatServer | None = None
        self._lock = asyncio.Lock()

    async def resolve(self, spec: ModelSpec) -> Route:
        if not spec.is_offline:
            return await direct_route(spec)
        name = spec.model.removeprefix(OFFLINE_PREFIX)
        # Offline generation judges share the simulators' HTTP server (a real socket).
        if name in SIM_PROFILES or name in OFFLINE_JUDGES:
            base_url = await self._sim_base_url()
            return Route(f"openai/{name}", base_url, OFFLINE_KEY, spec.transport)
        if name in OFFLINE_MODELS:
            register_offline_provider()
            return Route(spec.model, None, None)
        try:
            study = study_model(name)
        except ValueError as exc:  # a simulated juror's options are wrong
            raise ConfigError(f"{spec.model}: {exc}") from None
        if study is not None:
            register_offline_provider()
            return Route(spec.model, None, None)
        raise ConfigError(
            f"unknown offline model {spec.model!r}; offline models: "
            f"{', '.join(offline_model_names())}"
        )

    async def _sim_base_url(self) -> str:
        async with self._lock:
            if self._server is None:
                server = build_sim_server()
                for name, judge in OFFLINE_JUDGES.items():
                    server.add_model(name, lambda r, judge=judge: judge(list(r.messages)))
                await server.start()
                self._server = server
            return self._server.base_url

    async def aclose(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None


def offline_model_names() -> list[str]:
    return [OFFLINE_PREFIX + n for n in known_offline_names()]
