"""``study.html``: the study's tables and plots, and a link to every cell's own report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment

from safebench.studies.tables import Table

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 75em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #555; font-size: .9em; }
img { max-width: 100%; margin: .5em 0 1.5em; }
</style></head><body>
<h1>{{ title }}</h1>
{% for line in preamble %}<p>{{ line }}</p>{% endfor %}
<h2>Cells</h2>
<table><tr><th>cell</th>
{% for axis in axes %}<th>{{ axis }}</th>{% endfor %}
<th>status</th><th>cases</th><th>report</th></tr>
{% for cell in cells %}<tr><td>{{ cell.name }}</td>
{% for axis in axes %}<td>{{ cell.values.get(axis, "") }}</td>{% endfor %}
<td>{{ cell.status }}</td><td>{{ cell.counts }}</td>
<td>{% if cell.report %}<a href="{{ cell.report }}">report</a>{% endif %}</td></tr>
{% endfor %}</table>
{% for table in tables %}<h2>{{ table.title }}</h2>
<table><tr>{% for c in table.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr>
{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% if table.note %}<p class="note">{{ table.note }}</p>{% endif %}
{% endfor %}
{% if plots %}<h2>Plots</h2>
{% for plot in plots %}<img src="{{ plot }}" alt="{{ plot }}">{% endfor %}
{% endif %}
</body></html>
"""


class CellLink:
    def __init__(
        self, name: str, values: dict[str, str], status: str, counts: str, report: str | None
    ) -> None:
        self.name = name
        self.values = values
        self.status = status
        self.counts = counts
        self.report = report


def render_page(
    title: str,
    preamble: Sequence[str],
    axes: Sequence[str],
    cells: Sequence[CellLink],
    tables: Sequence[Table],
    plots: Sequence[Path],
    out: Path,
) -> str:
    """The page; links and images are relative to ``out`` so the folder can move."""
    env = Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(
        title=title,
        preamble=preamble,
        axes=axes,
        cells=cells,
        tables=tables,
        plots=[p.relative_to(out).as_posix() for p in plots],
    )
