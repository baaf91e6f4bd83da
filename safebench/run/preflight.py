"""What a config needs before its first model call, checked before any: ``safebench check``,
and the start of ``run``, ``study``, ``rejudge``, ``calibrate`` and ``experiment``.

Each of these used to surface only once the run had started, as every case failing (a
missing key, retried as a server error; a bad ``SAFEBENCH_*`` value) or as a budget that
never bound (a model litellm's price map does not price counts $0). A problem found here is
an error before anything is written; a warning is said and the run goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ValidationError

from agents.credentials import credential_problem, credential_warning, provider_problem
from agents.pricing import listed_price, spec_priced
from agents.spec import ModelSpec
from agents.transports import native_problem
from jury.config import JuryConfig
from safebench.run.config import RunConfig

UNPRICED_EXEMPT = frozenset({"hosted_vllm", "ollama", "ollama_chat", "hf", "hf-classifier"})
"""Providers served by the user's own machines: no per-token price is expected of them."""


class Finding(BaseModel):
    """One thing a check found, in one line naming where it is in the config."""

    level: Literal["error", "warning"]
    where: str
    """The config field, e.g. ``jury.jurors[2]`` or the environment variable."""
    message: str


def run_seats(config: RunConfig) -> list[tuple[str, ModelSpec]]:
    """Every model the run calls, with the config field that names it (a replay target
    calls none: its answers are read from its file)."""
    seats: list[tuple[str, ModelSpec]] = [
        (f"targets[{i}]", target)
        for i, target in enumerate(config.targets)
        if target.kind != "replay"
    ]
    seats += jury_seats(config.jury)
    attacker = config.attack.params.get("model") if config.attack is not None else None
    if isinstance(attacker, dict):
        # An invalid one is reported by the attack's own parameter model when the config is
        # read; here only a valid one is checked for its key.
        with contextlib.suppress(ValidationError):
            seats.append(("attack.params.model", ModelSpec.model_validate(attacker)))
    return seats


def jury_seats(jury: JuryConfig, prefix: str = "jury.") -> list[tuple[str, ModelSpec]]:
    """The jury's jurors and foreperson, with the config field that names each."""
    seats: list[tuple[str, ModelSpec]] = [
        (f"{prefix}jurors[{i}]", juror) for i, juror in enumerate(jury.jurors)
    ]
    if jury.foreperson is not None:
        seats.append((f"{prefix}foreperson", jury.foreperson))
    return seats


def check_seats(seats: Iterable[tuple[str, ModelSpec]], *, max_usd: float | None) -> list[Finding]:
    """Credentials and prices of ``seats``; unpriced seats are errors under a dollar budget."""
    findings: list[Finding] = []
    unpriced: list[tuple[str, ModelSpec]] = []
    for where, spec in seats:
        unroutable = provider_problem(spec, where)
        if unroutable is not None:
            findings.append(Finding(level="error", where=where, message=unroutable))
            continue
        problem = credential_problem(spec, where)
        if problem is not None:
            findings.append(Finding(level="error", where=where, message=problem))
        # A param the chosen native client cannot send, those a judge format's seat adds
        # at call time (logprobs) included.
        unsent = native_problem(as_asked(spec), where)
        if unsent is not None:
            findings.append(Finding(level="error", where=where, message=unsent))
        unseen = credential_warning(spec, where)
        if unseen is not None:
            findings.append(Finding(level="warning", where=where, message=unseen))
        if (
            spec.price is None
            and not spec.is_offline
            and spec.provider not in UNPRICED_EXEMPT
            and not listed_price(spec.model)
        ):
            unpriced.append((where, spec))
    if max_usd is not None:
        # The map's JSON read offline misses some spellings litellm prices (fine-tuned
        # names, converse/ routes): under a dollar budget, litellm itself decides (it is
        # imported only here, for the names the file did not list).
        unpriced = [(where, spec) for where, spec in unpriced if not spec_priced(spec)]
    named = ", ".join(f"{where} ({spec.model})" for where, spec in unpriced)
    if unpriced and max_usd is not None:
        findings.append(
            Finding(
                level="error",
                where="budget.max_usd",
                message=(
                    f"budget.max_usd cannot bind: litellm's price map does not price {named}, "
                    "whose calls would count $0; give each a price: {input_per_mtok: …, "
                    "output_per_mtok: …} or use a current model name"
                ),
            )
        )
    # A model at an api_base of one's own is usually not billed per token: no warning.
    hosted = [(where, spec) for where, spec in unpriced if spec.api_base is None]
    if hosted and max_usd is None:
        named = ", ".join(f"{where} ({spec.model})" for where, spec in hosted)
        findings.append(
            Finding(
                level="warning",
                where="price",
                message=(
                    f"unpriced by litellm's price map: {named}: their calls count $0 in the "
                    "spending and --estimate (a price: in the spec fixes that)"
                ),
            )
        )
    return findings


def check_environment() -> list[Finding]:
    """The ``SAFEBENCH_*`` settings the product reads, each valid or named."""
    # The offline stack reads these when a judge loads, which is after the run has started:
    # a bad value failed every case as a "connection" error.
    from safebench.offline.harm_judge import bf16_fast, judge_threads

    findings = []
    for read in (bf16_fast, judge_threads):
        try:
            read()
        except ValueError as exc:
            name = str(exc).split("=", 1)[0]
            findings.append(Finding(level="error", where=name, message=str(exc)))
    return findings


def check_run(config: RunConfig) -> list[Finding]:
    """Everything a run's first call needs, found before it."""
    return check_environment() + check_seats(run_seats(config), max_usd=config.budget.max_usd)


def check_jury(jury: JuryConfig) -> list[Finding]:
    """What a jury's first call needs (rejudge, calibrate, experiment have no targets)."""
    return check_environment() + check_seats(jury_seats(jury, prefix=""), max_usd=None)


def check_models(models: Mapping[str, str | ModelSpec]) -> list[Finding]:
    """What the first calls to these models need (an experiment's pool, by name): bare
    model strings, or whole seats with their own endpoint and key variable."""
    seats = [
        (where, model if isinstance(model, ModelSpec) else ModelSpec(model=model))
        for where, model in models.items()
    ]
    return check_environment() + check_seats(seats, max_usd=None)


def as_asked(spec: ModelSpec) -> ModelSpec:
    """The spec as its calls are sent: a formatted juror's with the params its seat adds."""
    fmt = getattr(spec, "format", None)
    if not fmt:
        return spec
    # Imported here: the seat module brings the chat client (autogen), which a check of a
    # jury without formats never needs.
    from jury.formats import get_format
    from jury.formats.seat import asked_spec

    return asked_spec(spec, get_format(fmt))[0]


def errors_of(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]
