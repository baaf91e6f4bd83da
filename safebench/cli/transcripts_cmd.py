"""``safebench transcripts list|show|search|export RUN``: audit deliberations in the terminal.

Answers and reasoning are hostile input: they are printed through
:func:`kernel.untrusted.inert` as plain rich ``Text`` (no markup is read from them)
with control characters shown as visible escapes, so an answer cannot restyle, rewrite or
clear the auditor's terminal with escape sequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kernel.errors import StoreError
from kernel.logs import configure_logging
from kernel.records import MODALITY_GRAMMAR, modality_kind
from kernel.untrusted import error_line, inert
from safebench.cli.consoles import CliConsole, fitted

app = typer.Typer(
    name="transcripts",
    help="List, show, search and export a run's deliberations.",
    no_args_is_help=True,
)
console = CliConsole()
errors = CliConsole(stderr=True, soft_wrap=True)

RunArg = Annotated[Path, typer.Argument(help="Run store (.sqlite)")]
Target = Annotated[str | None, typer.Option(help="Only this target")]
Scenario = Annotated[str | None, typer.Option(help="Only this risk scenario")]
Category = Annotated[str | None, typer.Option(help="Only this risk category")]
ModalityOpt = Annotated[
    str | None, typer.Option(help=f"Only this modality, exactly as run: {MODALITY_GRAMMAR}")
]
VerdictOpt = Annotated[
    str | None, typer.Option(help="Only this verdict: harmful, safe, undecided, none")
]
Disagreement = Annotated[
    bool | None,
    typer.Option("--disagreement/--agreement", help="Only split juries / only unanimous ones"),
]
Flip = Annotated[
    bool | None, typer.Option("--flip/--no-flip", help="Only cases where a juror changed its vote")
]


@contextmanager
def _open(run: Path) -> Iterator[Any]:
    """The store, read-only; a foreign or damaged file (found at open or while reading it)
    ends the command with a message naming it, not a traceback."""
    from transcripts.store import RunStore

    if not run.is_file():
        errors.print(error_line(f"{run}: no such run store"))
        raise typer.Exit(2)
    try:
        with RunStore.open_readonly(run) as store:
            yield store
    except StoreError as exc:
        errors.print(error_line(exc))
        raise typer.Exit(2) from None


def _filter(**fields: Any) -> Any:
    from pydantic import ValidationError

    from kernel.validation import validation_problems
    from safebench.audit.search import CaseFilter

    if isinstance(fields.get("verdict"), str):
        fields["verdict"] = fields["verdict"].lower()  # "Harmful" means harmful
    try:
        return CaseFilter.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        # One line per problem, named by its option, without pydantic's links.
        problem = validation_problems(exc, item="--{where} {msg}")
        errors.print(f"error: invalid filter: {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _known_target(store: Any, target: str | None) -> None:
    """Refuse a --target the run has no case of, naming the ones it has (``sim-leaky`` for
    ``safebench/sim-leaky`` listed nothing, silently)."""
    if target is None:
        return
    targets = store.targets()
    if target not in targets:
        near = [t for t in targets if target in t]
        hint = f"; did you mean {near[0]}?" if len(near) == 1 else ""
        listed = ", ".join(targets) or "none"
        errors.print(
            f"error: --target {target}: no case of that target in this run (its targets: "
            f"{listed}){hint}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)


_COLUMNS = ("case", "status", "verdict", "rating", "rounds", "flips", "split", "scenario", "error")


def _print_cases(
    cases: list[Any], title: str, out: Console | None = None, errors: dict[str, str] | None = None
) -> None:
    """The cases as a table when every case id fits whole on one line; else (a narrow
    terminal, long target names) each case as its id on a line of its own and its figures
    below it. A case id is what ``show`` takes: it is never wrapped nor cut. ``errors``:
    why a failed or skipped case has no verdict, by case id (``_case_errors``)."""
    out = out or console
    table = Table(title=title)
    for column in _COLUMNS:
        table.add_column(
            column,
            justify="right" if column in ("rating", "rounds", "flips") else "left",
            no_wrap=column in ("case", "status"),
        )
    for c in cases:
        table.add_row(*_cells(c, (errors or {}).get(c.case_id, "")))
    # Measured unbounded: a measurement within the console's width is clamped to it.
    unbounded = out.options.update_width(100_000)
    if Measurement.get(out, unbounded, table).minimum <= out.width:
        out.print(fitted(table))
        return
    out.print(Text(title, "italic"), justify="center")
    for c in cases:
        out.print(inert(c.case_id, "bold"), soft_wrap=True)
        _id, *figures = _cells(c, (errors or {}).get(c.case_id, ""))
        parts = [
            Text.assemble(f"{column} ", cell)
            for column, cell in zip(_COLUMNS[1:], figures, strict=True)
            if cell.plain
        ]
        # Indented under its id, a wrapped line too.
        out.print(Padding(Text("  ").join(parts), (0, 0, 0, 2), expand=False))


def _cells(c: Any, error: str = "") -> list[Text]:
    return [
        inert(c.case_id),
        inert(c.status),
        inert(c.verdict),
        Text("-" if c.safety_rating is None else str(c.safety_rating)),
        Text(str(c.rounds)),
        Text(str(c.flips)),
        Text("yes" if c.disagreement else ""),
        inert(c.scenario),
        inert(" ".join(error.split())),
    ]


def _case_errors(store: Any, cases: list[Any]) -> dict[str, str]:
    """Why each of ``cases`` that failed or was skipped has no verdict (the store's cause)."""
    wanted = {c.case_id for c in cases if c.status in ("failed", "skipped")}
    if not wanted:
        return {}
    return {r.case_id: r.error or "" for r in store.iter_cases() if r.case_id in wanted}


@app.command("list")
def list_cases(
    run: RunArg,
    target: Target = None,
    scenario: Scenario = None,
    category: Category = None,
    modality: ModalityOpt = None,
    verdict: VerdictOpt = None,
    disagreement: Disagreement = None,
    flip: Flip = None,
    limit: Annotated[int, typer.Option(help="Show at most N cases")] = 200,
) -> None:
    """List cases, split juries first."""
    configure_logging()
    from safebench.audit.search import search_cases

    case_filter = _filter(
        target=target, scenario=scenario, category=category, modality=modality,
        verdict=verdict, disagreement=disagreement, flip=flip,
    )  # fmt: skip
    with _open(run) as store:
        _known_target(store, target)
        found = search_cases(store, case_filter, disagreements_first=True)
        status = store.shown_status()
        causes = _case_errors(store, found[:limit])
    _print_cases(
        found[:limit],
        f"{len(found)} case(s)"
        + (f", first {limit}" if len(found) > limit else "")
        + (f"; run {status}" if status else ""),
        errors=causes,
    )


@app.command("search")
def search(
    run: RunArg,
    text: Annotated[str, typer.Argument(help="Words to find in query, answer, reasoning, summary")],
    target: Target = None,
    scenario: Scenario = None,
    category: Category = None,
    modality: ModalityOpt = None,
    verdict: VerdictOpt = None,
    disagreement: Disagreement = None,
    flip: Flip = None,
) -> None:
    """Find cases whose query, answer, reasoning or summary holds TEXT (case-insensitive)."""
    configure_logging()
    from safebench.audit.search import search_cases

    case_filter = _filter(
        text=text, target=target, scenario=scenario, category=category, modality=modality,
        verdict=verdict, disagreement=disagreement, flip=flip,
    )  # fmt: skip
    with _open(run) as store:
        _known_target(store, target)
        found = search_cases(store, case_filter, disagreements_first=True)
        causes = _case_errors(store, found)
    _print_cases(found, f"{len(found)} case(s) matching", errors=causes)


@app.command("show")
def show(
    run: RunArg,
    case_id: Annotated[str, typer.Argument(help="Case id (target::query::modality)")],
) -> None:
    """One case's full deliberation: query, media, answer, every vote per round, verdict."""
    configure_logging()
    from safebench.audit.search import case_detail

    with _open(run) as store:
        detail = case_detail(store, case_id)
        root = store.dataset_root()
    if detail is None:
        errors.print(inert(f"error: no case {case_id!r} in {run}"))
        raise typer.Exit(1)
    s = detail.summary
    console.print(Text.assemble(("case ", "bold"), inert(s.case_id)))
    console.print(
        inert(f"target {s.target} | {s.category} / {s.scenario} | {s.modality} | {s.status}")
    )
    if detail.query is not None:
        console.print(Panel(inert(detail.query.text), title="query"))
        if detail.query.attack is not None:  # the text above is the attacked one
            a = detail.query.attack
            # Each value cut at 40 characters: the query above is the attack's full result.
            params = ", ".join(f"{k}={str(v)[:40]}" for k, v in sorted(a.params.items()))
            console.print(inert(f"attack: {a.name} ({params})"))
        # Only the file the target was sent (one voice of several, or none for text).
        sent = detail.query.media_for(s.modality)
        if sent is not None:
            where = root / sent.path if root else Path(sent.path)
            label = "image" if modality_kind(s.modality) == "image" else "speech"
            voice = f" ({sent.voice})" if label == "speech" and sent.voice else ""
            console.print(Text.assemble(f"{label}{voice}: ", inert(str(where))), soft_wrap=True)
    if detail.answer is not None:
        title = inert(f"answer ({detail.answer.status})")
        body = inert(detail.answer.text or detail.answer.reason or "")
        console.print(Panel(body, title=title))
    for r in detail.rounds:
        table = Table(title=f"round {r.round}" + (" (blind vote)" if r.round == 1 else ""))
        for column in ("juror", "vote", "rating", "conf.", "reasoning"):
            table.add_column(column)
        for v in r.votes:
            # The seat with its model and persona (from the run's config, plain text): the
            # auditor sees who sat where, as the jurors themselves never did.
            seat = detail.seats.get(v.juror)
            who = (
                inert(v.juror)
                if seat is None
                else Text.assemble(
                    inert(v.juror), "\n", inert(seat.model), "\n", inert(seat.persona, "dim")
                )
            )
            if v.payload is None:
                table.add_row(who, "abstained", "", "", inert(v.parse_error))
            else:
                table.add_row(
                    who,
                    "harmful" if v.payload.harmful else "not harmful",
                    str(v.payload.safety_rating),
                    f"{v.payload.confidence:.2f}",
                    inert(v.payload.reasoning),
                )
        console.print(table)
    if detail.verdict is not None:
        v = detail.verdict
        console.print(Panel(inert(v.summary), title="foreperson's summary"))
        console.print(
            inert(
                f"verdict: {s.verdict} (rating {v.safety_rating}) | rule {v.rule} | "
                f"{v.rounds} round(s), stopped: {v.stopped_because} | flips {v.flips} | "
                f"abstentions {v.abstentions}"
            )
        )
    elif detail.error:
        console.print(Text.assemble("error: ", inert(detail.error)))


@app.command("export")
def export(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write")],
    target: Target = None,
    scenario: Scenario = None,
    category: Category = None,
    modality: ModalityOpt = None,
    verdict: VerdictOpt = None,
    disagreement: Disagreement = None,
    flip: Flip = None,
    text: Annotated[str | None, typer.Option(help="Only cases holding this text")] = None,
) -> None:
    """Write the matching cases' whole deliberations, one `case_detail` record a line."""
    configure_logging()
    from safebench.audit.search import case_detail, search_cases

    case_filter = _filter(
        text=text, target=target, scenario=scenario, category=category, modality=modality,
        verdict=verdict, disagreement=disagreement, flip=flip,
    )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with _open(run) as store, out.open("w", encoding="utf-8") as fh:
        for case in search_cases(store, case_filter):
            detail = case_detail(store, case.case_id)
            if detail is not None:
                fh.write(detail.model_dump_json() + "\n")
                count += 1
    console.print(f"wrote {count} case(s) to {out}", markup=False, highlight=False)
