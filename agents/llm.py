"""The one place litellm is imported, after its offline cost map is switched on.

litellm otherwise downloads a price list at import time, which a machine without network
access (and every test) must never wait for.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

# Our choke point owns retries, logging and accounting; litellm's own copies would double them
# and print to stdout.
litellm.suppress_debug_info = True
litellm.drop_params = True
litellm.num_retries = 0
litellm.telemetry = False

__all__ = ["litellm"]
