"""``safebench rules [SECTION]``: every name a config or command may use, one line each.

Generated from the registries (voting rules, stop conditions, personas, rubrics, attacks,
target kinds, transports, label formats, offline models, dataset importers, image makers,
speech engines), so a newly registered component is listed without editing this module;
``tests/safebench/cli/test_rules_listing.py`` checks that every registry is shown here.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, get_args

import typer
from rich.table import Table
from rich.text import Text

from safebench.cli.consoles import CliConsole

console = CliConsole()
errors = CliConsole(stderr=True)


@dataclass(frozen=True)
class Entry:
    """One registered name and what it does, in a line."""

    name: str
    about: str


@dataclass(frozen=True)
class Section:
    """The names of one registry, and where a config or command uses them."""

    title: str
    where: str
    entries: list[Entry]


def first_sentence(text: str | None) -> str:
    """The first sentence of a docstring, on one line, without reST's double backquotes."""
    if not text:
        return ""
    paragraph = " ".join(inspect.cleandoc(text).split("\n\n")[0].split())
    paragraph = paragraph.replace("``", "`")
    cut = paragraph.find(". ")
    return paragraph if cut < 0 else paragraph[: cut + 1]


def module_summary(module: str) -> str:
    """A module's docstring's first sentence, read from its source without importing it (a
    target or transport module may pull in litellm or torch)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as fh:
        return first_sentence(ast.get_docstring(ast.parse(fh.read())))


def _doc_of(entry: Callable[..., object]) -> str | None:
    """``entry``'s docstring; for a lambda adapting a loader (``lambda path, strict:
    load_generic(path)``), the docstring of the function it calls."""
    if entry.__doc__ or entry.__name__ != "<lambda>":
        return entry.__doc__
    module_globals = getattr(entry, "__globals__", {})
    for name in entry.__code__.co_names:
        called = module_globals.get(name)
        if callable(called) and called.__doc__:
            return called.__doc__
    return None


def _voting_rules() -> Section:
    from jury.voting import options_model, rule_names
    from kernel.registry import lookup

    entries = []
    for name in rule_names():
        options = []
        for option, field in options_model(name).model_fields.items():
            options.append(f"{option}: required" if field.is_required() else
                           f"{option}={field.default}")  # fmt: skip
        shown = f"{name} ({', '.join(options)})" if options else name
        entries.append(Entry(shown, first_sentence(lookup("voting_rule", name).__doc__)))
    return Section(
        "voting rules",
        "jury.voting: {rule: NAME, option: value}; a rule without required options may be "
        "written bare (voting: unanimous)",
        entries,
    )


def _stop_conditions() -> Section:
    from jury.termination import STOP_RULES

    entries = [Entry(n, first_sentence(type(STOP_RULES[n]).__doc__)) for n in STOP_RULES]
    return Section(
        "stop conditions", "jury.early_stop: [NAME, ...] ([] holds every round)", entries
    )


def _personas() -> Section:
    from jury.personas import DEFAULT_PERSONAS

    entries = [
        Entry(name, f"{p.leaning}: {first_sentence(p.perspective)}")
        for name, p in DEFAULT_PERSONAS.items()
    ]
    return Section(
        "personas",
        "jury.jurors[].persona: NAME, or inline {name, perspective, leaning}",
        entries,
    )


def _rubrics() -> Section:
    from jury.rubrics import DEFAULT_RUBRIC, rubric_names
    from kernel.registry import lookup

    entries = []
    for name in rubric_names():
        about = first_sentence(lookup("rubric", name).__doc__)
        entries.append(Entry(name, ("(default) " if name == DEFAULT_RUBRIC else "") + about))
    return Section("rubrics", "jury.rubric, or one juror's jury.jurors[].rubric", entries)


def _judge_formats() -> Section:
    from jury.formats import JUDGE_FORMATS

    entries = [Entry(name, f"{fmt.about} ({fmt.label})") for name, fmt in JUDGE_FORMATS.items()]
    return Section("judge formats", "one juror's jury.jurors[].format", entries)


def _attacks() -> Section:
    from generation.attacks import ATTACKS

    entries = [Entry(name, ATTACKS[name].summary) for name in ATTACKS]
    return Section("attacks", "attack: {name: NAME, params: ...} (`safebench attacks`)", entries)


def _target_kinds() -> Section:
    from targets.base import TARGET_KINDS

    entries = [Entry(name, module_summary(TARGET_KINDS[name])) for name in TARGET_KINDS]
    return Section("target kinds", "targets[].kind (default litellm)", entries)


def _transports() -> Section:
    from agents.spec import ModelSpec
    from agents.transports import TRANSPORT_MODULES, auto_transport
    from kernel.registry import names

    accepted = list(get_args(ModelSpec.model_fields["transport"].annotation))
    default = ModelSpec.model_fields["transport"].default
    entries = []
    for name in [*accepted, *TRANSPORT_MODULES, *names("transport")]:
        if any(entry.name.split(" ")[0] == name for entry in entries):
            continue
        if name in TRANSPORT_MODULES:
            about = module_summary(TRANSPORT_MODULES[name])
        elif name == "auto":
            about = first_sentence(auto_transport.__doc__)
        else:
            about = ""
        if name not in accepted:
            about = f"(taken by the model's prefix, not set by transport:) {about}"
        entries.append(Entry(f"{name} (default)" if name == default else name, about))
    return Section("transports", "transport: NAME on a target, juror or foreperson", entries)


def _label_formats() -> Section:
    from jury.labels import LABEL_LOADERS

    entries = [Entry("auto", "told from the file (its suffix and, for CSV, its header)")]
    entries += [Entry(n, first_sentence(_doc_of(LABEL_LOADERS[n]))) for n in LABEL_LOADERS]
    return Section("label formats", "calibrate / experiment --format", entries)


def _offline_models() -> Section:
    import safebench.offline  # noqa: F401  (the package's import fills the catalogue)
    from agents.offline_catalog import OFFLINE_CATALOG, OFFLINE_FAMILIES, OFFLINE_PREFIX
    entries = []
    for name, entry in OFFLINE_CATALOG.items():
        about = entry.kind.replace("_", " ")
        if entry.accepts != {"text"}:
            about += f", accepts {', '.join(sorted(entry.accepts))}"
        if entry.threaded:
            about += ", runs a small neural network"
        entries.append(Entry(f"{OFFLINE_PREFIX}{name}", about))
    for prefix, family in OFFLINE_FAMILIES.items():
        entries.append(
            Entry(f"{OFFLINE_PREFIX}{prefix}{family.placeholder}", f"{family.kind} family")
        )
    return Section("offline models", "model: NAME anywhere a model is named (no key, no network)",
                   entries)  # fmt: skip


def _importers() -> Section:
    from generation.importers import IMPORTER_KIND
    from kernel.registry import lookup, names

    entries = [Entry(n, first_sentence(lookup(IMPORTER_KIND, n).__doc__))
               for n in names(IMPORTER_KIND)]  # fmt: skip
    return Section("dataset importers", "safebench dataset import FORMAT SOURCE", entries)


def _image_makers() -> Section:
    from generation.images import IMAGE_MAKERS

    entries = [
        Entry(n, "draws with image_model" if m.uses_model else "draws without a model")
        for n, m in IMAGE_MAKERS.items()
    ]
    return Section("image makers", "media settings: image_maker", entries)


def _speech_engines() -> Section:
    from generation.speech import SPEECH_ENGINES

    entries = []
    for name, engine in SPEECH_ENGINES.items():
        how = "speaks with tts_model" if engine.uses_model else "runs on this machine"
        entries.append(Entry(name, f"{how}; voices {', '.join(engine.voices)}"))
    return Section("speech engines", "media settings: speech_engine", entries)


def _metrics() -> Section:
    from jury.metrics import METRICS

    entries = [
        Entry(name, f"from {m.needs}: {first_sentence(m.definition)}")
        for name, m in METRICS.items()
    ]
    return Section("metrics", "safebench report, calibrate, experiment, studies", entries)


SECTIONS: dict[str, Callable[[], Section]] = {
    "voting": _voting_rules,
    "stop": _stop_conditions,
    "personas": _personas,
    "rubrics": _rubrics,
    "formats": _judge_formats,
    "attacks": _attacks,
    "targets": _target_kinds,
    "transports": _transports,
    "labels": _label_formats,
    "offline": _offline_models,
    "importers": _importers,
    "images": _image_makers,
    "speech": _speech_engines,
    "metrics": _metrics,
}
"""Each section by the short name ``safebench rules NAME`` takes."""


def sections(only: str | None = None) -> list[Section]:
    """The listing's sections (``only``: the one of that short name)."""
    chosen = SECTIONS if only is None else {only: SECTIONS[only]}
    return [build() for build in chosen.values()]


def _print(section: Section) -> None:
    console.print(Text.assemble((section.title, "bold"), "  ", (section.where, "dim")))
    table = Table(show_header=False, box=None, padding=(0, 1, 0, 2))
    # Names are what a config is written with: never cut, wrapped or folded.
    table.add_column("name", no_wrap=True, style="cyan")
    table.add_column("about", overflow="fold")
    for entry in section.entries:
        table.add_row(Text(entry.name), Text(entry.about))
    console.print(table)


def rules(
    section: Annotated[
        str | None,
        typer.Argument(help=f"Only this section: {', '.join(SECTIONS)}", show_default=False),
    ] = None,
) -> None:
    """List every voting rule, stop condition, persona, rubric, attack, target kind,
    transport, label format, offline model, importer, image maker and speech engine, one
    line each, with the config field or command that takes it."""
    if section is not None and section not in SECTIONS:
        errors.print(
            f"error: no section {section!r}; sections: {', '.join(SECTIONS)}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)
    for index, found in enumerate(sections(section)):
        if index:
            console.print()
        _print(found)
