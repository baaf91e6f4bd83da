"""HTML rendering for the report and the viewer: jinja2 with autoescaping on every template.

Model answers, juror reasoning and summaries are hostile input. Autoescaping turns every
``{{ value }}`` into inert text, no template marks anything ``|safe``, and each page also
carries a Content-Security-Policy that forbids scripts outright, so even a missed escape
could not run one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from safebench.audit.report import Report, ScoreCell

REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
"""The static report: no script, no fetch, images only from inline data: URIs."""

VIEWER_CSP = (
    "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'self'"
)
"""The viewer: filters are a plain GET form, so it needs no script either. Sent as a header
and repeated in the page (so a saved copy keeps it)."""

VIEWER_CSP_HEADER = VIEWER_CSP + "; frame-ancestors 'none'"
"""``frame-ancestors`` only works as a header (browsers ignore it, loudly, in a meta tag)."""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _avg(cells: Mapping[str, ScoreCell], groups: Sequence[str], metric: str) -> float | None:
    values = [getattr(cells[g], metric) for g in groups if g in cells]
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("safebench.audit", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(pct=_pct, num=_num, avg=_avg)
    return env


_ENV: Environment | None = None


def render(template: str, **context: Any) -> str:
    global _ENV
    if _ENV is None:
        _ENV = environment()
    return _ENV.get_template(template).render(**context)


def render_report(report: Report) -> str:
    """The report as one self-contained HTML page (plots inlined, no network asset)."""
    from safebench.audit.plots import all_plots  # matplotlib is only paid for by the report

    return render(
        "report.html.j2",
        csp=REPORT_CSP,
        report=report,
        plots=all_plots(report),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
