"""The import contracts cover the whole product: every module sits in a layer.

`lint-imports` (run by `make test`) checks the layers that `.importlinter` names; a module
that no layer names would be checked by nothing, so a new module must be placed in one.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["kernel", "safebench", "agents", "generation", "jury", "targets", "transcripts"]
# Package roots hold no code that imports the project; ``python -m safebench`` is the CLI.
OUTSIDE_LAYERS = {*PACKAGES, "safebench.__main__"}


def layer_names() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter", encoding="utf-8")
    layers = config["importlinter:contract:layers"]["layers"]
    return {name.strip() for name in re.split(r"[|:\n]", layers) if name.strip()}


def product_modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append(".".join(parts))
    return sorted(found)


def test_every_product_module_is_in_a_layer_of_the_import_contracts() -> None:
    layers = layer_names()
    unplaced = [
        module for module in product_modules()
        if module not in OUTSIDE_LAYERS
        and not any(module == layer or module.startswith(layer + ".") for layer in layers)
    ]
    assert unplaced == [], f"add these to a layer in .importlinter: {unplaced}"


def test_the_layers_name_only_modules_that_exist() -> None:
    modules = set(product_modules())
    assert sorted(layer_names() - modules) == []
