"""The offline stack's entry in the catalogue below it: every ``safebench/…`` name it answers.

:func:`register_builtins` fills :mod:`agents.offline_catalog` from the offline stack's own
registries (the jurors of :mod:`.models`, the profiles of :mod:`.sim_targets`, the judges of
:mod:`.judges`, and the replayed and simulated juror families of :mod:`.study_jurors`). It runs
when this module is imported, and the package imports this module: once ``safebench.offline``
(any part of it) is imported the catalogue is complete, and no caller has to remember to fill
it. The config layer (``safebench.run.config``, ``safebench.studies.spec``) and the app import
it for that. It imports no litellm, torch, transformers nor HTTP server: every config load pays
for it.
"""

from __future__ import annotations

from agents.offline_catalog import OfflineEntry, OfflineFamily, register_family, register_offline
from jury.label_keys import TRUTH
from safebench.offline.judges import OFFLINE_JUDGES
from safebench.offline.models import OFFLINE_MODELS, THREADED
from safebench.offline.sim_targets import SIM_PROFILES
from safebench.offline.study_jurors import REPLAY_PREFIX, SIMULATED_PREFIX, parse_temperament


def _simulated_problem(options: str) -> str | None:
    try:
        parse_temperament(options)
    except ValueError as exc:
        return str(exc)
    return None


def register_builtins() -> None:
    """Register every built-in offline model, profile, judge and name family (idempotent)."""
    for name, profile in SIM_PROFILES.items():
        register_offline(
            OfflineEntry(name=name, kind="simulated_target", accepts=frozenset(profile.accepts))
        )
    for name in OFFLINE_MODELS:
        kind = "foreperson" if name == "foreperson" else "juror"
        register_offline(OfflineEntry(name=name, kind=kind, threaded=name in THREADED))
    for name in OFFLINE_JUDGES:
        register_offline(OfflineEntry(name=name, kind="generation_judge"))
    # Replayed jurors are accepted by shape: the verdicts they replay are handed to them with
    # each call by the study that puts labelled items before them.
    register_family(
        OfflineFamily(
            prefix=REPLAY_PREFIX,
            placeholder="<column>",
            problem=lambda _: None,
            answers_from=lambda column: column,
        )
    )
    register_family(
        OfflineFamily(
            prefix=SIMULATED_PREFIX,
            placeholder="<options>",
            suffix_required=False,
            problem=_simulated_problem,
            answers_from=lambda _options: TRUTH,
        )
    )


# The catalogue is complete whenever this module (and so the ``safebench.offline`` package,
# which imports it) has been imported.
register_builtins()
