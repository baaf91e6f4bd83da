"""The CLI's consoles: a terminal's own width, and a wide page for a pipe or a file.

rich lays a table out for 80 columns when its output is not a terminal, so a CI log or a
``| tee`` copy of ``safebench calibrate`` cut model names such as ``safebench/harm-judge``
across lines. Piped output gets ``PIPE_COLUMNS`` instead; ``COLUMNS`` still decides when set.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleDimensions

PIPE_COLUMNS = 160
"""Columns for output that is not a terminal: a calibration table's widest rows (seat, model
and eight figures) and a run summary's category names fit on one line each."""


class CliConsole(Console):
    """A rich console that is wide when it writes to a pipe or a file."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        if options.get("width") is None:
            # rich freezes COLUMNS when a console is built, and the commands build theirs at
            # import: read it at each print instead, as for every other setting.
            self._width = None

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        # An explicit width (a test's narrow console) or a COLUMNS that rich reads (digits)
        # is the caller's choice. Whether the output is a terminal is asked of the stream
        # itself: FORCE_COLOR makes rich treat a pipe as a terminal for colours.
        chosen = self._width is not None or self._environ.get("COLUMNS", "").isdigit()
        if not chosen and not _is_tty(self.file):
            return ConsoleDimensions(max(dims.width, PIPE_COLUMNS), dims.height)
        return dims

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or exotic stream
        return False
