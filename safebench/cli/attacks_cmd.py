"""``safebench attacks``: the registered attacks, one line each, and their parameters."""

from __future__ import annotations

import json
import types
from typing import Any, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from rich.padding import Padding
from rich.text import Text

from safebench.cli.consoles import CliConsole

console = CliConsole()


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if annotation is type(None):
        return "None"
    return str(getattr(annotation, "__name__", annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined:
        return "default: none"
    shown = json.dumps(value, default=str)
    return f"default: {shown if len(shown) <= 40 else shown[:37] + '…'}"


def param_lines(params: type[Any]) -> list[str]:
    """``name (type, default): description`` for each parameter of an attack."""
    lines = []
    for name, field in params.model_fields.items():
        # Docstrings mark code reStructuredText's way; the terminal shows one backtick.
        about = " ".join((field.description or "").split()).replace("``", "`")
        lines.append(f"{name} ({_type_name(field.annotation)}, {_default(field)}): {about}")
    return lines


def attacks() -> None:
    """List the attacks a run config's `attack:` may name, with their parameters."""
    from generation.attacks import ATTACKS

    # Wrapped at the terminal's width, a wrapped line indented under its own first line.
    for name in ATTACKS.names():
        spec = ATTACKS[name]
        console.print(Text.assemble((name, "bold"), f"  {spec.summary}"))
        for line in param_lines(spec.params):
            console.print(Padding(Text(line), (0, 0, 0, 4), expand=False), highlight=False)
