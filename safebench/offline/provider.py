"""The offline jurors as a litellm custom provider: ``safebench/<name>`` travels litellm's path.

Registering them with litellm (rather than calling them directly) means an offline juror's
call goes through ``litellm.acompletion`` exactly as ``openai/gpt-4o`` would: same client,
same response objects, same accounting in the gateway.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from agents.llm import litellm
from agents.offline_catalog import RECORDED_VERDICT_PARAM
from safebench.offline.models import OFFLINE_MODELS, THREADED
from safebench.offline.seeding import seeded
from safebench.offline.study_jurors import StudyJuror, recorded_verdict_of, study_model

PROVIDER = "safebench"


@lru_cache(maxsize=1)
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=64, thread_name_prefix="offline-model")


def offline_model(name: str) -> StudyJuror | None:
    """A built-in offline juror, or a replayed or simulated one (``replay/…``, ``simulated/…``),
    as a function of the messages and the recorded verdict the call hands over (which only
    replayed and simulated jurors read)."""
    if name in OFFLINE_MODELS:
        model = OFFLINE_MODELS[name]
        return lambda messages, _recorded: model(messages)
    try:
        return study_model(name)
    except ValueError:
        return None


class OfflineJuryProvider(litellm.CustomLLM):  # type: ignore[misc]
    def _reply(
        self,
        model: str,
        messages: list[dict[str, Any]],
        seed: object = None,
        recorded: object = None,
    ) -> litellm.ModelResponse:
        # litellm hands over the model without its provider (``replay/cls``), or with it.
        name = model.removeprefix(f"{PROVIDER}/")
        responder = offline_model(name)
        if responder is None:
            known = ", ".join(f"{PROVIDER}/{m}" for m in sorted(OFFLINE_MODELS))
            raise litellm.NotFoundError(
                message=f"no offline model {model!r}; offline models: {known}, "
                f"{PROVIDER}/replay/<column>, {PROVIDER}/simulated/<options>",
                llm_provider=PROVIDER,
                model=model,
            )
        # The jury's seed reaches the juror as the call's ``seed`` parameter, not as text; a
        # study's recorded verdict on the item as its own parameter, handed to the juror.
        verdict = recorded_verdict_of(recorded)
        with seeded(seed):
            text = responder(messages, verdict)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        return litellm.ModelResponse(
            model=f"{PROVIDER}/{name}",
            choices=[
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text.split()),
                "total_tokens": prompt_tokens + len(text.split()),
            },
        )

    def completion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> litellm.ModelResponse:
        return self._reply(model, messages, *_call_params(kwargs))

    async def acompletion(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> litellm.ModelResponse:
        if model.removeprefix(f"{PROVIDER}/") in THREADED:
            # A model's forward pass must not stall the event loop; concurrent callers' threads
            # meet in the model's own batcher and share one pass.
            return await asyncio.get_running_loop().run_in_executor(
                _executor(), self._reply, model, messages, *_call_params(kwargs)
            )
        return self._reply(model, messages, *_call_params(kwargs))


def _call_params(kwargs: dict[str, Any]) -> tuple[object, object]:
    """The call's ``seed`` and recorded verdict: litellm passes a custom provider the
    completion's parameters among its ``optional_params``."""
    optional = kwargs.get("optional_params")
    if not isinstance(optional, dict):
        return None, None
    return optional.get("seed"), optional.get(RECORDED_VERDICT_PARAM)


_registered = False


def register_offline_provider() -> None:
    """Make ``safebench/<name>`` models callable through litellm (idempotent)."""
    global _registered
    if _registered:
        return
    handler = OfflineJuryProvider()
    providers = [p for p in (litellm.custom_provider_map or []) if p.get("provider") != PROVIDER]
    providers.append({"provider": PROVIDER, "custom_handler": handler})
    litellm.custom_provider_map = providers
    litellm.utils.custom_llm_setup()
    _registered = True
