"""Bounded YAML reading: every config, judges, taxonomy and experiment file goes through here.

YAML aliases let a few hundred bytes describe a document of billions of nodes ("billion
laughs"): PyYAML builds it cheaply as shared references, and the blow-up comes later, when
pydantic validates and the store serialises it (665 bytes became a 52 MB store; 785 bytes
reached 2.8 GB of memory). So the composed node graph is measured *as expanded*, every alias
counted each time it is used, before anything is constructed, and a document over
:data:`MAX_YAML_NODES` is refused with a ``ConfigError`` naming the file. The file itself is
read only up to ``kernel.files.MAX_TEXT_FILE_BYTES`` (a larger one, ``/dev/zero`` included,
is refused naming the file and the limit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kernel.errors import ConfigError
from kernel.files import MAX_TEXT_FILE_BYTES, read_text_bounded

MAX_YAML_NODES = 200_000
"""Most nodes (scalars, lists, mappings) a YAML file may expand to, aliases counted at every
use. The largest real files (a taxonomy of hundreds of scenarios, a judges file) hold a few
thousand; a bomb holds millions."""


def _expanded_nodes(root: yaml.Node, limit: int) -> int:
    """Nodes in ``root`` with every alias expanded, counted without expanding (each shared
    node's size is computed once), saturating just above ``limit``. A recursive alias is
    infinite, so it counts as over the limit."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:  # a node that contains itself through an alias
            return limit + 1
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total = min(limit + 1, total + size(child))
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total = min(limit + 1, total + size(k) + size(v))
        open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(root)


def load_yaml(text: str, path: Path, max_nodes: int = MAX_YAML_NODES) -> Any:
    """``yaml.safe_load(text)``, refused (``ConfigError`` naming ``path``) when the document
    expands past ``max_nodes`` nodes or nests too deeply. YAML syntax errors propagate as
    ``yaml.YAMLError`` so callers keep their own line-and-column messages."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            expanded = _expanded_nodes(node, max_nodes)
        except RecursionError:
            raise ConfigError(f"{path}: YAML nested too deeply to read") from None
        if expanded > max_nodes:
            raise ConfigError(
                f"{path}: refused: the YAML expands to more than {max_nodes:,} nodes "
                "(aliases counted at every use; an alias bomb?)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml_mapping(path: Path, what: str, shape: str) -> dict[str, Any]:
    """The YAML mapping in ``path``; a missing file, bad YAML (with line and column) or a
    non-mapping is a ConfigError naming the file. ``what`` names the file's kind in errors,
    ``shape`` says what the mapping should hold."""
    path = Path(path)
    try:
        # Bounded before it is parsed: `safebench run /dev/zero` is refused after 16 MiB.
        text = read_text_bounded(path, MAX_TEXT_FILE_BYTES, what=what)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = load_yaml(text, path)  # bounded: an alias bomb is refused, not expanded
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {shape}")
    return data
