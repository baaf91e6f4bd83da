"""What a new user finds from the command line: ``--version``, ``init``'s starter configs
(they load, and the offline one runs) and ``rules``, which must list every registered name."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from safebench.cli.app import app
from safebench.run.config import load_run_config
from transcripts.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("agents", "generation", "jury", "safebench", "targets", "transcripts")


def invoke(*args: str) -> tuple[int, str]:
    # At a terminal's narrowest: piped output is otherwise laid out 160 columns wide.
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    return result.exit_code, result.output


def test_version_is_the_package_metadata() -> None:
    code, output = invoke("--version")
    assert code == 0
    assert output.strip() == f"safebench {version('safebench')}"


@pytest.mark.parametrize("real", [False, True])
def test_init_writes_a_config_that_loads(tmp_path: Path, real: bool) -> None:
    out = tmp_path / "starter.yaml"
    code, output = invoke("init", *(["--real"] if real else []), "--out", str(out))
    assert code == 0, output
    config = load_run_config(out)
    models = [t.model for t in config.targets] + [j.model for j in config.jury.jurors]
    offline = [m.startswith("safebench/") for m in models]
    assert all(offline) if not real else not any(offline)
    text = out.read_text(encoding="utf-8")
    if real:
        # Keys are named by variable, never written.
        assert all(t.api_key_env and t.api_key is None for t in config.targets)
        assert not re.search(r"api_key\s*:", text)
        assert "sk-" not in text


def test_init_comments_say_where_each_jury_setting_is_and_name_every_choice(
    tmp_path: Path,
) -> None:
    from jury.personas import DEFAULT_PERSONAS
    from jury.rubrics import rubric_names
    from jury.termination import STOP_RULES
    from jury.voting import rule_names

    out = tmp_path / "starter.yaml"
    assert invoke("init", "--out", str(out))[0] == 0
    text = out.read_text(encoding="utf-8")
    comments = " ".join(
        line.split("#", 1)[1] for line in text.splitlines() if line.lstrip().startswith("#")
    )
    comments = " ".join(comments.split())
    for setting in ("Jury size", "rounds", "round_robin", "early", "rubric", "tie", "k jurors"):
        assert setting in comments, setting
    for name in [*rule_names(), *STOP_RULES, *DEFAULT_PERSONAS, *rubric_names()]:
        assert name in comments, name


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("name: mine\n", encoding="utf-8")
    code, output = invoke("init", "--out", str(out))
    assert code == 2
    assert "--force" in output
    assert out.read_text(encoding="utf-8") == "name: mine\n"
    assert invoke("init", "--out", str(out), "--force")[0] == 0
    assert load_run_config(out).name == "starter-offline"


def test_the_offline_starter_runs(tmp_path: Path) -> None:
    out = tmp_path / "starter.yaml"
    assert invoke("init", "--out", str(out))[0] == 0
    store = tmp_path / "starter.sqlite"
    code, output = invoke("run", str(out), "--limit", "1", "--store", str(store), "--quiet")
    assert code == 0, output
    config = yaml.safe_load(out.read_text(encoding="utf-8"))
    cases = len(config["targets"]) * len(config["modalities"])
    with RunStore.open_readonly(store) as opened:
        assert len(opened.finished_cases()) == cases
        judged = list(opened.judged())
    assert len(judged) == cases


def _registry_kinds() -> set[str]:
    """Every registry kind the product declares, read from its source: ``Registry("kind")``
    and ``registrar("kind")`` (or ``registrar(CONSTANT)`` with ``CONSTANT = "kind"``)."""
    kinds: set[str] = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            kinds.update(re.findall(r"\bRegistry\(\s*\"([^\"]+)\"\s*\)", source))
            for argument in re.findall(r"\bregistrar\(\s*([^)]+?)\s*\)", source):
                if argument.startswith('"'):
                    kinds.add(argument.strip('"'))
                elif found := re.search(rf"^{argument}\s*=\s*\"([^\"]+)\"", source, re.M):
                    kinds.add(found[1])
    return kinds


NOT_LISTED = {
    "route provider": "how safebench/ routes reach the offline stack; no config names one",
}


def _listed_names() -> dict[str, list[str]]:
    """Each registry kind, with the names ``safebench rules`` must show for it."""
    from agents.offline_catalog import OFFLINE_CATALOG, OFFLINE_FAMILIES
    from agents.transports import TRANSPORT_MODULES
    from generation.attacks import ATTACKS
    from generation.images import IMAGE_MAKERS
    from generation.importers import IMPORTER_KIND
    from generation.speech import SPEECH_ENGINES
    from jury.formats import JUDGE_FORMATS
    from jury.labels import LABEL_LOADERS
    from jury.metrics import METRICS
    from jury.personas import DEFAULT_PERSONAS
    from jury.rubrics import rubric_names
    from jury.termination import STOP_RULES
    from jury.voting import rule_names
    from kernel.registry import names
    from safebench.offline.judges import OFFLINE_JUDGES
    from safebench.offline.models import OFFLINE_MODELS
    from safebench.offline.sim_targets import SIM_PROFILES
    from targets.base import TARGET_KINDS

    offline = [f"safebench/{n}" for n in [*OFFLINE_CATALOG, *OFFLINE_MODELS]]
    return {
        "voting_rule": rule_names(),
        "stop rule": list(STOP_RULES),
        "persona": list(DEFAULT_PERSONAS),
        "rubric": rubric_names(),
        "judge format": list(JUDGE_FORMATS),
        "attack": list(ATTACKS),
        "target kind": list(TARGET_KINDS),
        "target_kind": names("target_kind"),
        "transport": [*TRANSPORT_MODULES, *names("transport")],
        "label format": list(LABEL_LOADERS),
        "offline model": offline,
        "offline model family": [f"safebench/{p}" for p in OFFLINE_FAMILIES],
        "simulator profile": [f"safebench/{n}" for n in SIM_PROFILES],
        "offline judge": [f"safebench/{n}" for n in OFFLINE_JUDGES],
        IMPORTER_KIND: names(IMPORTER_KIND),
        "image maker": list(IMAGE_MAKERS),
        "speech engine": list(SPEECH_ENGINES),
        "metric": list(METRICS),
    }


def test_every_registry_is_listed_or_excused() -> None:
    # A new Registry must be listed by `safebench rules` (and added above) or excused here.
    listed = _listed_names()
    kinds = _registry_kinds()
    assert len(kinds) >= 15  # the scan itself found the registries
    assert kinds - set(listed) - set(NOT_LISTED) == set()


def test_rules_lists_every_registered_name() -> None:
    code, output = invoke("rules")
    assert code == 0, output
    for kind, registered in _listed_names().items():
        assert registered, kind
        for name in registered:
            # Whole, on one line: names are never wrapped, even at 80 columns.
            assert name in output, f"{kind} {name!r} missing from `safebench rules`"


def test_rules_shows_one_section_or_refuses_an_unknown_one() -> None:
    code, output = invoke("rules", "voting")
    assert code == 0
    assert "supermajority (k: required)" in output
    assert "persona" not in output
    code, output = invoke("rules", "votes")
    assert code == 2
    assert "sections: voting" in output
