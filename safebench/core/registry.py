"""One registry of named components: voting rules, target kinds, offline models.

Configs name a component (``voting: {rule: supermajority, k: 4}``); contract tests iterate
over every registered component of a kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from safebench.core.errors import ConfigError

T = TypeVar("T", bound=Callable[..., Any])

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}


def registrar(kind: str) -> Callable[[str], Callable[[T], T]]:
    """A decorator factory registering factories of one kind under a name."""

    def register(name: str) -> Callable[[T], T]:
        def decorate(factory: T) -> T:
            entries = _REGISTRY.setdefault(kind, {})
            if name in entries and entries[name] is not factory:
                raise ValueError(f"{kind} {name!r} is registered twice")
            entries[name] = factory
            return factory

        return decorate

    return register


def lookup(kind: str, name: str) -> Callable[..., Any]:
    entries = _REGISTRY.get(kind, {})
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise ConfigError(f"unknown {kind} {name!r}; known: {known}")
    return entries[name]


def names(kind: str) -> list[str]:
    return sorted(_REGISTRY.get(kind, {}))
