"""The one place SafeBench reaches litellm: imported when first needed and set up once then.

litellm takes seconds to import, so importing SafeBench does not import it: a gateway loads
it when it is built (``agents.gateway.Gateway``), before any call, and ``safebench --help``
or a config error answer at once. ``from agents.llm import litellm`` still works (a module
``__getattr__``); it loads and sets up litellm at that moment.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_module: ModuleType | None = None


def load_litellm() -> ModuleType:
    """litellm, imported on first call with SafeBench's process settings applied (once).

    Why each setting, and why process-wide: the gateway owns retries, logging and accounting,
    so litellm's own copies would double them and print to stdout. ``drop_params`` and
    ``num_retries`` are also passed per call by the chat transport; they are set here too for
    the calls that go to litellm without it (image generation, speech). Idempotent: a second
    call returns the module set up by the first.
    """
    global _module
    if _module is not None:
        return _module
    with _lock:
        if _module is None:
            # litellm otherwise downloads a price list at import, which a machine without
            # network access (and every test) must never wait for.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.suppress_debug_info = True
            litellm.drop_params = True
            litellm.num_retries = 0
            litellm.telemetry = False
            _module = litellm
    return _module


def __getattr__(name: str) -> Any:
    # PEP 562: ``from agents.llm import litellm`` loads litellm only when a module asks for it.
    if name == "litellm":
        return load_litellm()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["load_litellm"]  # and ``litellm``, through ``__getattr__``
