"""``safebench run CONFIG --estimate``: what a run would cost, drawn as a rich table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kernel.untrusted import inert


def print_estimate(console: Console, run_config: Any, latency: float, *, as_json: bool) -> None:
    """``safebench run CONFIG --estimate``: the estimate as a table (or JSON)."""
    # Imported here, as the pipeline is: the estimate reads litellm's price map.
    from safebench.run.estimate import Assumptions, estimate_run

    found = estimate_run(run_config, Assumptions(latency_s=latency))
    if as_json:
        console.print_json(found.model_dump_json())
        return
    table = Table(title=f"Estimate of run {run_config.name} (no model called)")
    table.add_column("role")
    table.add_column("model", overflow="fold")  # a model's name is never cut
    for column in ("calls", "tokens in", "tokens out", "USD"):
        table.add_column(column, justify="right")
    for role in found.roles:
        table.add_row(
            role.role,
            inert(role.model),
            _span(role.calls_best, role.calls_worst),
            _span(role.prompt_tokens_best, role.prompt_tokens_worst),
            _span(role.completion_tokens_best, role.completion_tokens_worst),
            "unpriced" if role.usd_best is None else _usd_span(role.usd_best, role.usd_worst),
        )
    table.add_section()
    models = {r.model for r in found.roles if r.calls_worst}
    table.add_row(
        Text("all", "bold"),
        "",
        _span(found.calls_best, found.calls_worst),
        _span(
            sum(r.prompt_tokens_best for r in found.roles),
            sum(r.prompt_tokens_worst for r in found.roles),
        ),
        _span(
            sum(r.completion_tokens_best for r in found.roles),
            sum(r.completion_tokens_worst for r in found.roles),
        ),
        _usd_total(found.usd_best, found.usd_worst, priced=len(found.unpriced) < len(models)),
    )
    console.print(table)
    skipped = ", ".join(f"{n} {why}" for why, n in found.skipped.items()) or "none"
    console.print(
        f"cases: {found.cases} ({found.queries} queries x {found.modalities} modalities x "
        f"{found.targets} targets); asked {found.asked}; skipped: {skipped}; already "
        f"finished in the store: {found.already_finished}"
    )
    console.print(
        "calls and tokens: best case (early stop after the first round it can) - worst case "
        "(every round)"
    )
    if found.unpriced:
        console.print(
            Text.assemble(
                "unpriced (not in litellm's price map, not in the $): ",
                inert(", ".join(found.unpriced)),
            )
        )
    console.print(
        f"wall time: {_duration(found.wall_s_best)} - {_duration(found.wall_s_worst)} "
        f"(bound by {found.bound_by}; {found.assumptions.latency_s:g} s a call assumed, "
        "offline models none)"
    )
    assume = found.assumptions
    console.print(
        f"assumed: ~4 characters a token, answers {assume.answer_tokens} tokens, votes "
        f"{assume.vote_tokens}, summaries {assume.summary_tokens}; " + "; ".join(found.notes)
    )


def _span(best: int, worst: int) -> str:
    return _count(best) if best == worst else f"{_count(best)}-{_count(worst)}"


def _count(n: int) -> str:
    # Short enough for an 80-column table: 94,030 -> 94.0k, 1,296,444 -> 1.30M.
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def _usd_total(best: float, worst: float, *, priced: bool) -> str:
    """The priced models' dollars; never a bare $0 for a run whose models are unpriced."""
    return _usd_span(best, worst) if priced else "unpriced"


def _usd_span(best: float, worst: float) -> str:
    return f"${best:,.2f}" if round(best, 2) == round(worst, 2) else f"${best:,.2f}-{worst:,.2f}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
