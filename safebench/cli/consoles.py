"""The CLI's consoles: a terminal's own width, and a wide page for a pipe or a file.

rich lays a table out for 80 columns when its output is not a terminal, so a CI log or a
``| tee`` copy of ``safebench calibrate`` cut model names such as ``safebench/harm-judge``
across lines. Piped output gets ``PIPE_COLUMNS`` instead; ``COLUMNS`` still decides when set.
"""

from __future__ import annotations

from rich.console import Console, ConsoleDimensions

PIPE_COLUMNS = 160
"""Columns for output that is not a terminal: a calibration table's widest rows (seat, model
and eight figures) and a run summary's category names fit on one line each."""


class CliConsole(Console):
    """A rich console that is wide when it writes to a pipe or a file."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        # An explicit width (a test's narrow console) or COLUMNS is the caller's choice.
        if self._width is None and "COLUMNS" not in self._environ and not self.is_terminal:
            return ConsoleDimensions(max(dims.width, PIPE_COLUMNS), dims.height)
        return dims

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

