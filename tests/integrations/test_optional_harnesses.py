"""inspect-ai and promptfoo stay optional: the command line loads neither.

``safebench --help`` (and the package of the integrations itself) must load no module of
inspect-ai nor the promptfoo grader, so a SafeBench installed without the ``inspect`` extra,
or without node, works whole. Checked in a fresh interpreter by which modules are loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from typer.testing import CliRunner

import safebench.cli.app
import safebench.integrations

result = CliRunner().invoke(safebench.cli.app.app, ["--help"])
loaded = sorted(
    name for name in sys.modules
    if name.split(".")[0] == "inspect_ai"
    or name.startswith("safebench.integrations.")
)
print(json.dumps({"exit": result.exit_code, "loaded": loaded}))
"""


def test_the_help_and_the_integrations_package_load_neither_inspect_nor_promptfoo() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=300
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"exit": 0, "loaded": []}


ENTRY_POINT_PROBE = """
import json, sys
from importlib.metadata import entry_points

(found,) = [ep for ep in entry_points(group="inspect_ai") if ep.name == "safebench"]
found.load()
heavy = ("litellm", "torch", "transformers", "autogen_agentchat", "safebench.integrations.clerk")
print(json.dumps({"module": found.value, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_inspects_entry_point_loads_no_model_library() -> None:
    """inspect loads every ``inspect_ai`` entry point whenever it looks for hooks, in every
    eval on the machine: SafeBench's must cost an import of the scorer's names, no more."""
    pytest.importorskip("inspect_ai")
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd="/",
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"module": "safebench.integrations.inspect_registry", "loaded": []}
