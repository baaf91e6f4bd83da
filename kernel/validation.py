"""Pydantic validation errors as the lines a user reads: one per field, with its path."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails


def _where(error: ErrorDetails, root: str) -> str:
    return ".".join(str(part) for part in error["loc"]) or root


def format_validation_error(path: Path, exc: ValidationError, what: str = "run config") -> str:
    lines = [f"{path}: invalid {what}:"]
    for error in exc.errors():
        where = _where(error, "(top level)")
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (a typo?)"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def validation_problems(
    exc: ValidationError,
    *,
    root: str = "(top level)",
    item: str = "{where}: {msg}",
    limit: int | None = None,
) -> str:
    """``exc``'s errors on one line, ``; ``-separated, for a message that names its file.

    Each error is ``item`` formatted with ``where`` (the field's dotted path, ``root`` for
    the value as a whole) and ``msg`` (pydantic's message); ``limit`` keeps the first few.
    """
    errors = exc.errors()[:limit]
    return "; ".join(item.format(where=_where(e, root), msg=e["msg"]) for e in errors)
