"""Pydantic validation errors as the lines a user reads: one per field, with its path."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


def _where(error: ErrorDetails, root: str) -> str:
    return ".".join(str(part) for part in error["loc"]) or root


def format_validation_error(
    path: Path, exc: ValidationError, what: str = "run config", model: type[BaseModel] | None = None
) -> str:
    """One line per error; an unknown field names the nearest field ``model`` (or a model
    inside it) has, when one is close: ``concurency: unknown field (did you mean
    concurrency?)``."""
    lines = [f"{path}: invalid {what}:"]
    known = field_names(model) if model is not None else set()
    for error in exc.errors():
        where = _where(error, "(top level)")
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            typed = str(error["loc"][-1]) if error["loc"] else ""
            near = difflib.get_close_matches(typed, sorted(known), n=1, cutoff=0.75)
            message = f"unknown field (did you mean {near[0]}?)" if near else "unknown field"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def field_names(model: type[BaseModel]) -> set[str]:
    """Every field name of ``model`` and of the models its fields hold, at any depth."""
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for name, info in annotation.model_fields.items():
                names.add(info.alias or name)
                visit(info.annotation)
            return
        for argument in typing.get_args(annotation):
            visit(argument)

    visit(model)
    return names


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
