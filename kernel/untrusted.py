"""Untrusted text for the terminal: dataset, model and answer strings printed as plain text.

Category and scenario names, model names, answers, reasoning and error messages that quote
them are hostile input. Handed to rich as a ``str`` they are parsed as console markup (a
name like ``Bias [/bold] speech`` raises ``MarkupError`` after a run has finished, and
``[link=…]`` plants a hyperlink), and raw control characters (ESC sequences, C1 codes, bidi
overrides) reach the terminal, where they can restyle, retitle or clear it. Every command
prints such strings through :func:`inert` (a rich ``Text``: never parsed as markup, never
highlighted) with each control character shown as a visible escape such as ``\\x1b``.
"""

from __future__ import annotations

import re

from rich.text import Text

_CONTROL = re.compile(
    # C0 controls but tab and newline, DEL and the C1 range (0x9b is a one-byte CSI), the
    # zero-width and bidi-override characters that reorder what an auditor reads, and BOM.
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """``text`` with every control character replaced by its visible escape."""
    return _CONTROL.sub(_show, "" if text is None else str(text))


def inert(text: object, style: str = "") -> Text:
    """Untrusted text as a rich ``Text``: no markup read from it, control characters shown."""
    return Text(visible(text), style=style)


def labelled(label: str, text: object, style: str = "red") -> Text:
    """A trusted, styled label followed by untrusted text, e.g. ``error: <message>``."""
    return Text.assemble((label, style), " ", inert(text))


def error_line(message: object) -> Text:
    """``error: <message>`` where the message may quote dataset or model text."""
    return labelled("error:", message)
