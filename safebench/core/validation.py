"""Pydantic validation errors as the lines a user reads: one per field, with its path."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


def format_validation_error(path: Path, exc: ValidationError, what: str = "run config") -> str:
    lines = [f"{path}: invalid {what}:"]
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (a typo?)"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)
