"""Help text as a terminal shows it: paragraphs that wrap at the terminal's width.

Docstrings and option help are written at the source's line length. Typer's rich help
joins the lines of a command's first paragraph only: every later paragraph kept the
source's line breaks and came out ragged at 80 columns (``modality`` alone on a line).
Typer also prints a ``<bool>`` type beside every flag. :class:`TidyHelpGroup`, the root
command's class, rewrites the whole command tree once when it is built: each paragraph
one line (the terminal wraps it), a list item a line of its own, and no type on a flag.
The generated CLI reference (``docs/cli.md``) reads the same tree.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from typer.core import TyperGroup, TyperOption

_ITEM = re.compile(r"^\s*(?:[-*]|\d+[.)])\s")
"""A list item's first line: it starts a line of its own."""


def prose(text: str | None) -> str | None:
    """``text`` with each paragraph's lines joined into one (list items kept apart)."""
    if not text:
        return text
    body, form_feed, rest = inspect.cleandoc(text).partition("\f")
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", body.strip()):
        if paragraph.startswith("\b"):  # click's "keep this paragraph as written"
            paragraphs.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not _ITEM.match(line):
                lines[-1] = f"{lines[-1]} {line.strip()}"
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs) + (form_feed + rest if form_feed else "")


def tidy(command: Any) -> None:
    """Rewrite ``command``'s help, its options' and its subcommands' (see the module)."""
    from typer._click import Context

    command.help = prose(command.help)
    # The help option is made on first use; made now (and cached by click) to be tidied too.
    help_option = command.get_help_option(Context(command))
    for param in [*command.params, help_option]:
        if isinstance(param, TyperOption):
            param.help = prose(param.help)
            if param.is_flag and param.metavar is None:
                param.metavar = ""  # typer prints <bool> for a flag, which takes no value
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)


class TidyHelpGroup(TyperGroup):
    """The root command: its whole tree's help tidied once, when typer builds it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tidy(self)
