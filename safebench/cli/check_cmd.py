"""``safebench check CONFIG [--ping]``: what the config's first call needs, before any call."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from kernel import secrets
from kernel.errors import SafeBenchError
from kernel.logs import configure_logging
from kernel.untrusted import error_line
from safebench.cli.consoles import CliConsole

console = CliConsole()
errors = CliConsole(stderr=True)

PING_MESSAGES = [{"role": "user", "content": "Reply with the word OK."}]


def check(
    config: Annotated[Path, typer.Argument(help="A run config (YAML)")],
    ping: Annotated[
        bool,
        typer.Option(
            "--ping",
            help="Also make one minimal real call per distinct model and endpoint (recorded "
            "nowhere, counted in no budget): latency, transport, error",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs")] = False,
) -> None:
    """Check a config before its first model call: every seat's and target's credentials,
    prices under a dollar budget, api_base URLs, offline models and SAFEBENCH_* settings.

    Exit code 0 when the run can start (warnings are printed), 2 when it cannot: each
    problem is one line naming the config field or environment variable. `safebench run`
    makes the same checks before it writes anything.
    """
    configure_logging(verbose)
    from safebench.run.config import load_run_config
    from safebench.run.preflight import check_run, errors_of, run_seats

    try:
        run_config = load_run_config(config)
    except SafeBenchError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None
    findings = check_run(run_config)
    print_findings(findings)
    failed = asyncio.run(_ping_all(run_config, run_seats(run_config))) if ping else 0
    if errors_of(findings):
        raise typer.Exit(2)  # the run cannot start, whatever the pings said
    if failed:
        raise typer.Exit(1)
    if not findings:
        console.print(f"ok: {len(run_seats(run_config))} models, no problem found")


def refuse_unready(findings: list[Any]) -> None:
    """Print ``findings``; exit 2 (before anything is written) when any is an error."""
    print_findings(findings)
    if any(f.level == "error" for f in findings):
        raise typer.Exit(2)


def print_findings(findings: list[Any]) -> None:
    """A line per finding (wrapped between words at the terminal's width): errors to
    stderr, warnings to stdout."""
    for finding in findings:
        out = errors if finding.level == "error" else console
        out.print(Text(f"{finding.level}: {finding.message}"))


async def _ping_all(run_config: Any, seats: list[tuple[str, Any]]) -> int:
    """One call per distinct (model, endpoint); a line each. Returns how many failed."""
    from safebench.run.session import model_session

    distinct: dict[tuple[str, str | None], tuple[str, Any]] = {}
    for where, spec in seats:
        distinct.setdefault((spec.model, spec.api_base), (where, spec))
    # No store (nothing recorded), no budget, no retries: a check, not a run.
    settings = run_config.gateway.model_copy(update={"max_retries": 0})
    failed = 0
    async with model_session(settings, None) as session:
        for where, spec in distinct.values():
            line = await _ping(session.gateway, where, spec)
            failed += line.startswith("FAIL")
            console.print(Text(line), soft_wrap=True)
    return failed


async def _ping(gateway: Any, where: str, spec: Any) -> str:
    from agents.transports import AUTO, auto_reason, fallback_key, settle_auto

    route = await gateway.resolve(spec)
    if route.transport == AUTO:
        settle_auto(route, spec.params)
    transport = route.transport if spec.transport != "auto" else f"auto -> {route.transport}"
    if spec.transport == "auto" and route.transport == "litellm":
        # Why the lean client was not taken, so a user can see what to change for it.
        keyed = route.key() is not None or fallback_key(route.litellm_model) is not None
        why = auto_reason(route.litellm_model, route.api_base, spec.params, keyed=keyed)
        transport += f" ({why})" if why else ""
    started = time.monotonic()
    try:
        done = await gateway.complete(spec, PING_MESSAGES, scope=f"check::{where}", role="check")
    except Exception as exc:  # every failure is this model's line, not the command's end
        return f"FAIL  {spec.model}  {transport}  {where}: {secrets.scrub(str(exc))}"
    latency = time.monotonic() - started
    return f"ok    {spec.model}  {transport}  {latency * 1000:.0f} ms  {where}: {done.text[:40]!r}"
