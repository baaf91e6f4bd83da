"""Run configs: errors name the file and the field; real provider strings pass unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from safebench.config import load_run_config
from safebench.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """
name: t
targets: [{model: openai/gpt-4o}]
jury:
  jurors: [{model: safebench/pattern-juror}]
"""


def test_bad_field_error_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL.replace(
            "jurors: [{model: safebench/pattern-juror}]",
            "jurors: [{model: safebench/pattern-juror}]\n  rounds: eleven",
        ),
    )
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    message = str(info.value)
    assert str(path) in message and "jury.rounds" in message


def test_typo_in_a_field_name_is_an_error_not_a_default(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "concurency: 4\n")
    with pytest.raises(ConfigError, match=r"concurency: unknown field"):
        load_run_config(path)


def test_model_without_provider_prefix_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("openai/gpt-4o", "gpt-4o"))
    with pytest.raises(ConfigError, match=r"targets\.0\.model: .*provider/model"):
        load_run_config(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ntargets: [\n  - : :\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+:\d+: invalid YAML"):
        load_run_config(path)


def test_secret_params_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL.replace("{model: openai/gpt-4o}", "{model: openai/gpt-4o, params: {api_key: x}}"),
    )
    with pytest.raises(ConfigError, match="api_key_env"):
        load_run_config(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_run_config(tmp_path / "nope.yaml")


EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


RUN_EXAMPLES = [e for e in EXAMPLES if not e.name.startswith(("experiment-", "judges"))]


@pytest.mark.parametrize("example", RUN_EXAMPLES)
def test_every_example_config_is_valid(example: Path) -> None:
    config = load_run_config(example)
    assert config.targets and config.jury.jurors


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.name.startswith("judges")])
def test_every_example_judges_config_is_valid(example: Path) -> None:
    from generation.judges_config import load_judges_config

    assert len(load_judges_config(example).judges) >= 2


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.name.startswith("experiment-")])
def test_every_example_experiment_spec_is_valid(example: Path) -> None:
    from jury.study.experiment import configurations, load_experiment

    assert configurations(load_experiment(example))


def test_inline_api_key_is_masked_in_the_stored_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL.replace(
            "{model: openai/gpt-4o}", "{model: openai/gpt-4o, api_key: sk-very-secret}"
        ),
    )
    config = load_run_config(path)
    assert "sk-very-secret" not in config.public_json()
