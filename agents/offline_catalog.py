"""The catalogue of offline ``safebench/…`` models: names, kinds and what each accepts.

The offline stack (``safebench.offline``) sits above ``agents``, ``jury`` and ``targets`` and
plugs in only through these registries: it registers every built-in model, simulator profile
and generation judge (``safebench.offline.catalog.register_builtins``, which the app calls
before it reads a config), and everything below reads the catalogue without importing the
stack: config validation (:mod:`agents.spec`) checks names here, and targets
(:mod:`targets.capabilities`) read a simulated model's modalities here.

Two registries: :data:`OFFLINE_CATALOG` holds the fixed names (``safebench/pattern-juror``);
:data:`OFFLINE_FAMILIES` holds name families that take a suffix (``safebench/replay/<column>``,
``safebench/simulated/<options>``), each with the check of its suffix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.records import ModalityKind
from kernel.registry import Registry

OFFLINE_PREFIX = "safebench/"
"""Models under this prefix are the built-in offline stack (no key, no network)."""

OfflineKind = Literal["juror", "foreperson", "simulated_target", "generation_judge"]

RECORDED_VERDICT_PARAM = "recorded_verdict"
"""The completion parameter that hands a replayed or simulated juror the recorded verdict on
the item it is judging (True: harmful), for one call. A study sets it on the juror's spec for
the items it puts before that juror (``safebench.studies.recorded``); the offline provider
passes it to the juror as an argument. Absent: no verdict is recorded for the item."""


class OfflineEntry(BaseModel):
    """One fixed offline model name, as the offline stack registers it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    """The name without ``safebench/`` (``pattern-juror``, ``sim-leaky``)."""
    kind: OfflineKind
    """What it is: a juror, the foreperson, a simulated target or a generation judge."""
    accepts: frozenset[ModalityKind] = frozenset({"text"})
    """The input modalities it takes, as a target's ``accepts`` names them."""
    threaded: bool = False
    """Whether it runs a neural network (answered in a thread, off the event loop)."""


class OfflineFamily(BaseModel):
    """A family of offline names sharing a prefix (``replay/``), with the check of a suffix."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    prefix: str = Field(min_length=2)
    """The part after ``safebench/`` that every name of the family starts with."""
    placeholder: str
    """How error messages show the suffix (``<column>``)."""
    kind: OfflineKind = "juror"
    suffix_required: bool = True
    """Whether the bare prefix (an empty suffix) is no model of the family."""
    problem: Callable[[str], str | None]
    """Why a suffix is not a model of the family, or None when it is."""
    answers_from: Callable[[str], str] | None = None
    """For jurors that answer from recorded verdicts: the table (a judge column, or the human
    ``truth``) a model of the family reads, given its suffix; the study hands the juror that
    table's verdict on each item (:data:`RECORDED_VERDICT_PARAM`). None: it reads none."""


OFFLINE_CATALOG: Registry[OfflineEntry] = Registry("offline model")
OFFLINE_FAMILIES: Registry[OfflineFamily] = Registry("offline model family")


def register_offline(entry: OfflineEntry) -> OfflineEntry:
    """Add ``entry`` to :data:`OFFLINE_CATALOG`; registering an equal entry again is a no-op."""
    if OFFLINE_CATALOG.get(entry.name) == entry:
        return OFFLINE_CATALOG[entry.name]
    return OFFLINE_CATALOG.add(entry.name, entry)


def register_family(family: OfflineFamily) -> OfflineFamily:
    """Add ``family`` to :data:`OFFLINE_FAMILIES` (again under its prefix: a no-op)."""
    known = OFFLINE_FAMILIES.get(family.prefix)
    if known is not None and known.placeholder == family.placeholder:
        return known
    return OFFLINE_FAMILIES.add(family.prefix, family)


def offline_entry(model: str) -> OfflineEntry | None:
    """The catalogue entry of ``model`` (with or without ``safebench/``), if it has one."""
    return OFFLINE_CATALOG.get(model.removeprefix(OFFLINE_PREFIX))


def recorded_table(model: str) -> str | None:
    """The recorded-verdict table the offline model ``model`` answers from (``replay/cls``:
    ``cls``; a simulated juror: ``truth``), or None for every other model."""
    if not model.startswith(OFFLINE_PREFIX):
        return None
    name = model.removeprefix(OFFLINE_PREFIX)
    for family in OFFLINE_FAMILIES.values():
        suffix = name.removeprefix(family.prefix)
        of_family = name.startswith(family.prefix) and (suffix or not family.suffix_required)
        if family.answers_from is not None and of_family:
            return family.answers_from(suffix)
    return None


def known_offline_names() -> list[str]:
    """Every fixed offline model name (without ``safebench/``), sorted."""
    return OFFLINE_CATALOG.names()


def offline_model_problem(name: str) -> str | None:
    """Why ``name`` (without ``safebench/``) is not an offline model, or None when it is.

    A family checks only the shape of its suffix: a replayed juror's verdicts, for one, are
    handed to it with each call by the study that runs it, long after the config is read."""
    if name in OFFLINE_CATALOG:
        return None
    for family in OFFLINE_FAMILIES.values():
        suffix = name.removeprefix(family.prefix)
        if name.startswith(family.prefix) and (suffix or not family.suffix_required):
            return family.problem(suffix)
    known = ", ".join(f"{OFFLINE_PREFIX}{n}" for n in known_offline_names()) or "none registered"
    families = "".join(
        f", {OFFLINE_PREFIX}{f.prefix}{f.placeholder}" for f in OFFLINE_FAMILIES.values()
    )
    return f"unknown offline model '{OFFLINE_PREFIX}{name}'; offline models: {known}{families}"
