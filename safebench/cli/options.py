"""Command-line options that more than one command takes, defined once."""

from __future__ import annotations

from typing import Annotated

import typer

StrictLabels = Annotated[
    bool,
    typer.Option(
        "--strict-labels",
        help="Fail when a HarmBench behaviour has no text (else: warn, use the test case)",
    ),
]
"""``calibrate`` and ``experiment``: refuse, rather than warn about, a labels file whose
behaviour text is missing."""
