"""inspect-ai's entry point into SafeBench (``[project.entry-points.inspect_ai]``).

inspect imports this module when it looks up a name under ``safebench/`` (``inspect score
--scorer safebench/jury``): importing it registers the scorer, its metrics and the hook that
closes the jury's stores.
"""

from safebench.integrations.inspect_scorer import (
    CloseJuryStores,
    asr_high,
    asr_low,
    attack_success_rate,
    jury,
    mean_safety_rating,
)

__all__ = [
    "CloseJuryStores",
    "asr_high",
    "asr_low",
    "attack_success_rate",
    "jury",
    "mean_safety_rating",
]
