"""Registries of named components: voting rules, rubrics, personas, stop rules, target kinds,
transports, importers, offline models.

Configs name a component (``voting: {rule: supermajority, k: 4}``, ``early_stop:
[consensus]``); a config field accepts exactly the names registered for its kind, so adding a
component is registering it, never editing a ``Literal``. Contract tests iterate over every
registered component of a kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from kernel.errors import ConfigError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class Registry(Mapping[str, T], Generic[T]):
    """The components of one kind, by name, in registration order. Read-only as a mapping;
    entries are added with :meth:`add` or the :meth:`register` decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        # Two components under one name would make a config's meaning depend on import order.
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Take ``name`` out (a plug-in unloaded; a test's own entry cleaned up)."""
        self._entries.pop(name, None)

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator registering what it decorates under ``name``."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def require(self, name: str) -> T:
        """The entry ``name``; a ``ConfigError`` naming the known ones if there is none."""
        if name not in self._entries:
            raise ConfigError(self.unknown(name))
        return self._entries[name]

    def check(self, name: str) -> str:
        """``name`` if registered, else a ``ValueError`` (what a pydantic validator raises, so
        the config error points at the field)."""
        if name not in self._entries:
            raise ValueError(self.unknown(name))
        return name

    def unknown(self, name: str) -> str:
        known = ", ".join(sorted(self._entries)) or "none"
        return f"unknown {self.kind} {name!r}; known: {known}"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


_KINDS: dict[str, Registry[Any]] = {}


def registry(kind: str) -> Registry[Any]:
    """The shared registry of factories of ``kind`` (created on first use)."""
    return _KINDS.setdefault(kind, Registry(kind))


def registrar(kind: str) -> Callable[[str], Callable[[F], F]]:
    """A decorator factory registering factories of one kind under a name."""
    return registry(kind).register


def lookup(kind: str, name: str) -> Callable[..., Any]:
    found: Callable[..., Any] = registry(kind).require(name)
    return found


def names(kind: str) -> list[str]:
    return registry(kind).names()
