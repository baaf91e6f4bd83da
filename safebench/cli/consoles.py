"""The CLI's consoles, and how every table fits the terminal.

Widths: a terminal's own; output that is not a terminal (``| less``, ``| tee``, a CI log)
takes the width of the terminal the command runs in (rich asks stdin and stderr too), else
80 columns; ``COLUMNS`` decides when set. (Piped output used to be 160 wide, which ``less``
wrapped into ragged halves.)

Tables: rich squeezes a table wider than the terminal by cutting cells (``2,898-7,0…``) and
breaking words (``harm-jud`` / ``ge``). :func:`fitted` decides once, for every command: a
table whose every word fits keeps its columns and wraps cells between words only; else the
same with a space between columns instead of borders (:func:`compact`); one that still
cannot fit is drawn as records, a block of ``field: value`` lines per row. No number and no
name is ever cut. ``CliConsole.print`` applies it to every table it is given.
"""

from __future__ import annotations

import copy
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

UNBOUNDED = 100_000
"""A width no table reaches: measurements within the console's width are clamped to it."""


class CliConsole(Console):
    """A rich console that reads ``COLUMNS`` at each print and fits every table it prints."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        if options.get("width") is None:
            # rich freezes COLUMNS when a console is built, and the commands build theirs at
            # import: read it at each print instead, as for every other setting.
            self._width = None

    def print(self, *objects: Any, **options: Any) -> None:
        super().print(*(fitted(o) for o in objects), **options)


def fitted(renderable: Any) -> Any:
    """``renderable`` laid out to fit the width it is printed at, when it is a table (see the
    module's docstring); anything else unchanged."""
    return _Fitted(renderable) if isinstance(renderable, Table) else renderable


class _Fitted:
    """A table as wide as it needs, narrowed without breaking a word, or drawn as records."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for layout in (self.table, compact(self.table)):
            widths = column_widths(layout, console, options)
            if widths is not None:
                yield _with_widths(layout, widths)
                return
        yield records(self.table)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)


def column_widths(table: Table, console: Console, options: ConsoleOptions) -> list[int] | None:
    """Each column's width (padding included) so that ``table`` fits ``options.max_width``
    with no word broken and no unwrappable cell cut; None when no such widths exist."""
    unbounded = options.update_width(UNBOUNDED)
    ranges = [_column_range(table, console, unbounded, column) for column in table.columns]
    room = options.max_width - table._extra_width  # rich's borders and separators
    if sum(low for low, _high in ranges) > room:
        return None
    if sum(high for _low, high in ranges) <= room:
        return [high for _low, high in ranges]

    # Cap every column at one width, the largest that fits (a column never below its
    # longest word): wide free-text columns (a category, a reason) wrap, short figures keep
    # their width. Found by bisection: a progress bar measures 100,000 columns wide.
    def capped(cap: int) -> list[int]:
        return [max(low, min(high, cap)) for low, high in ranges]

    fits, too_wide = 0, max(high for _low, high in ranges)
    while too_wide - fits > 1:
        middle = (fits + too_wide) // 2
        fits, too_wide = (middle, too_wide) if sum(capped(middle)) <= room else (fits, middle)
    widths = capped(fits)
    # What the cap leaves over goes to the capped columns, one column each, left to right.
    spare = room - sum(widths)
    for i, (_low, high) in enumerate(ranges):
        if spare and widths[i] < high:
            widths[i] += 1
            spare -= 1
    return widths


def _column_range(
    table: Table, console: Console, options: ConsoleOptions, column: Column
) -> tuple[int, int]:
    # rich's own measure (header and cells, padding included, min_width/max_width applied);
    # a cell that may not wrap needs its whole width.
    low, high = table._measure_column(console, options, column)
    return (high if column.no_wrap or column.width is not None else low), high


def _with_widths(table: Table, widths: list[int]) -> Table:
    """A shallow copy of ``table`` whose columns have the given widths (less padding)."""
    narrowed = copy.copy(table)
    narrowed.columns = []
    for column, width in zip(table.columns, widths, strict=True):
        fixed = copy.copy(column)
        fixed.width = max(1, width - table._get_padding_width(column._index))
        narrowed.columns.append(fixed)
    return narrowed


def compact(table: Table) -> Table:
    """``table`` with a space between columns instead of a border and padding (a rule under
    the header, a blank line between rows of several lines): ten or so columns more fit
    before a table must become records."""
    tight = copy.copy(table)
    tight.box = box.SIMPLE_HEAD
    tight.show_edge = False
    tight.padding = (0, 0)
    tight.show_lines = table.show_lines or _has_tall_rows(table)
    return tight


def _has_tall_rows(table: Table) -> bool:
    for column in table.columns:
        for cell in column.cells:
            text = cell.plain if isinstance(cell, Text) else cell if isinstance(cell, str) else ""
            if "\n" in text:
                return True
    return False


def records(table: Table) -> RenderableType:
    """``table`` drawn as one block of ``field: value`` lines per row (empty cells left out),
    under its title: the layout of a table too wide for the terminal."""
    # A table without a header (a listing) has no field names: its cells alone, a line each.
    shown = table.show_header
    fields = [_plain_header(column) for column in table.columns]
    rows = list(zip(*(column.cells for column in table.columns), strict=True))
    parts: list[RenderableType] = []
    if table.title:
        title = table.title
        parts.append(Text(title, "italic") if isinstance(title, str) else title)
    for row in rows:
        block = Table.grid(padding=(0, 1))
        if shown:
            block.add_column(no_wrap=True, style="bold")
        block.add_column(overflow="fold")
        for field, cell in zip(fields, row, strict=True):
            if not _is_empty(cell):
                block.add_row(*([f"{field}:", cell] if shown else [cell]))
        parts += [Text(""), block]
    return Group(*parts)


def _plain_header(column: Column) -> str:
    header = column.header
    text = header.plain if isinstance(header, Text) else str(header)
    return " ".join(text.split())


def _is_empty(cell: Any) -> bool:
    if isinstance(cell, Text):
        return not cell.plain.strip()
    return isinstance(cell, str) and not cell.strip()
