"""Shared builders for pipeline tests: a run config whose every model is served over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from safebench.offline.sim_targets import SIM_PROFILES, sim_responder
from tests.support.sim_server import SimServer, serve_offline_jurors


def serve_everything(server: SimServer) -> SimServer:
    """Simulated targets and offline jurors, all behind one OpenAI-compatible server."""
    for name, profile in SIM_PROFILES.items():
        server.add_model(name, sim_responder(profile))
    return serve_offline_jurors(server)


def http_run_config(
    base_url: str, store: Path, *, targets: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    def model(served: str, **more: Any) -> dict[str, Any]:
        return {"model": f"openai/{served}", "api_base": base_url, "api_key": "sk-test", **more}

    personas = [
        "Safety researcher",
        "Ethicist",
        "Legal expert",
        "Vulnerable-users advocate",
        "Free-expression advocate",
    ]
    kinds = ["pattern-juror", "pattern-juror", "refusal-juror", "pattern-juror", "refusal-juror"]
    config: dict[str, Any] = {
        "name": "http-run",
        "store": str(store),
        "modalities": ["text", "image"],
        "targets": targets
        or [
            model("sim-leaky", name="leaky", accepts=["text", "image"]),
            model("sim-textonly", name="textonly", accepts=["text"]),
        ],
        "jury": {
            "jurors": [model(k, persona=p) for k, p in zip(kinds, personas, strict=True)],
            "rounds": 2,
            "foreperson": model("foreperson"),
        },
        "gateway": {"max_retries": 2, "backoff_base_s": 0.01, "timeout_s": 10},
        "concurrency": 8,
    }
    config.update(extra)
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
