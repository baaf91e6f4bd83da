"""The command line and the config models load without the heavy model libraries.

litellm, torch, transformers, autogen and matplotlib take seconds to import; ``--help`` and a
config error must not wait for them. This checks which modules are loaded (in a fresh
interpreter), never how long anything takes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["litellm", "torch", "transformers", "autogen_agentchat", "matplotlib"]

PROBE = """
import json, sys
from pathlib import Path

import safebench.cli.app, safebench.config
from typer.testing import CliRunner

from agents.settings import GatewaySettings
from jury.config import JuryConfig
from targets.base import TargetConfig
from safebench.config import load_run_config
from safebench.core.errors import ConfigError

bad = Path(sys.argv[1])
try:
    load_run_config(bad)
except ConfigError:
    pass
else:
    raise SystemExit("the bad config loaded")
result = CliRunner().invoke(safebench.cli.app.app, ["run", str(bad)])
help_result = CliRunner().invoke(safebench.cli.app.app, ["--help"])
print(json.dumps({
    "exit": result.exit_code,
    "help_exit": help_result.exit_code,
    "loaded": [m for m in %r if m in sys.modules],
}))
"""


def test_cli_and_a_bad_config_load_no_heavy_library(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntargets: []\njury: {jurors: []}\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), str(bad)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["exit"] == 2  # the config error, reported as one
    assert report["help_exit"] == 0
    assert report["loaded"] == []
