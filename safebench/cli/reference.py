"""The ``safebench`` command as a click command, for the docs' generated CLI reference.

``docs/cli.md`` renders it with the ``mkdocs-click`` extension; nothing else imports it.
"""

from __future__ import annotations

import typer

from safebench.cli.app import app

command = typer.main.get_command(app)
