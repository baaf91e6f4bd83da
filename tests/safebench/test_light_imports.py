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

import safebench.cli.app, safebench.run.config
from typer.testing import CliRunner

from agents.settings import GatewaySettings
from jury.config import JuryConfig
from targets.base import TargetConfig
from safebench.run.config import load_run_config
from kernel.errors import ConfigError

bad = Path(sys.argv[1])
try:
    load_run_config(bad)
except ConfigError:
    pass
else:
    raise SystemExit("the bad config loaded")
bad_jury = Path(sys.argv[2])
runner = CliRunner()
exits = {
    "run": runner.invoke(safebench.cli.app.app, ["run", str(bad)]).exit_code,
    "help": runner.invoke(safebench.cli.app.app, ["--help"]).exit_code,
    # The other commands that read a config before they call a model.
    "rejudge": runner.invoke(
        safebench.cli.app.app, ["rejudge", str(bad), "--jury", str(bad_jury)]
    ).exit_code,
    "calibrate": runner.invoke(
        safebench.cli.app.app, ["calibrate", str(bad), "--jury", str(bad_jury)]
    ).exit_code,
    "experiment": runner.invoke(safebench.cli.app.app, ["experiment", str(bad_jury)]).exit_code,
}
print(json.dumps({"exits": exits, "loaded": [m for m in %r if m in sys.modules]}))
"""


def test_cli_and_a_bad_config_load_no_heavy_library(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntargets: []\njury: {jurors: []}\n", encoding="utf-8")
    bad_jury = tmp_path / "jury.yaml"
    bad_jury.write_text("jurors: []\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), str(bad), str(bad_jury)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # Each config error reported as one (exit 2); --help answered.
    assert report["exits"] == {
        "run": 2,
        "help": 0,
        "rejudge": 2,
        "calibrate": 2,
        "experiment": 2,
    }
    assert report["loaded"] == []


def test_every_command_knows_the_offline_models_without_the_test_suites_registration(
    tmp_path: Path,
) -> None:
    # A fresh process, as a user runs it: the suite's conftest registers the offline
    # catalogue for in-process tests, which would hide a command that never does.
    done = subprocess.run(
        [sys.executable, "-m", "safebench", "media", str(tmp_path),
         "--describer", "safebench/judge", "--critic", "safebench/judge"],
        capture_output=True, text=True, timeout=600,
    )
    output = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    assert "unknown offline model" not in output, output
    # It got past the settings to the dataset, which is what is missing here.
    assert done.returncode != 0 and "no queries file" in output, output
