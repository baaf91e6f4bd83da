"""SafeBench: safety evaluation of multimodal LLMs with a deliberating jury."""

import os

# litellm fetches a remote price list at import unless told otherwise; set it before any
# module of ours (or of the user's) imports litellm through us.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
