"""Run configs: errors name the file and the field; real provider strings pass unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigError
from safebench.run.config import load_run_config

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
    meant = r"concurency: unknown field \(did you mean concurrency\?\)"
    with pytest.raises(ConfigError, match=meant):
        load_run_config(path)


def test_a_typo_inside_a_nested_model_names_the_field_meant(tmp_path: Path) -> None:
    # The nearest known field at any depth: a juror's ``acepts`` is ``accepts``, the jury's
    # ``rouns`` is ``rounds``; a name near nothing gets no guess.
    body = MINIMAL.replace("jury:\n", "jury:\n  rouns: 1\n") + "xyzzy: 1\n"
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    message = str(info.value)
    assert "jury.rouns: unknown field (did you mean rounds?)" in message
    assert "xyzzy: unknown field\n" in message + "\n" and "xyzzy: unknown field (" not in message


def test_model_without_provider_prefix_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("openai/gpt-4o", "gpt-4o"))
    with pytest.raises(ConfigError, match=r"targets\.0\.model: .*provider/model"):
        load_run_config(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ntargets: [\n  - : :\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+:\d+: invalid YAML"):
        load_run_config(path)


def test_credentials_in_params_are_held_as_secrets(tmp_path: Path) -> None:
    key, token = "sk-param-0123456789KEY", "azure-ad-0123456789TOKEN"
    target = (
        "{model: openai/gpt-4o, api_base: 'https://llm.example/v1', "
        f"params: {{api-key: {key}, azure_ad_token: {token}, extra_body: {{api_key: {key}}}, "
        f"default_headers: {{X-Api-Key: {token}}}, temperature: 0.2}}}}"
    )
    config = load_run_config(write(tmp_path, MINIMAL.replace("{model: openai/gpt-4o}", target)))
    stored = config.public_json()
    for secret in (key, token):
        assert secret not in stored
    assert '"temperature":0.2' in stored and "llm.example/v1" in stored


@pytest.mark.parametrize(
    ("api_base", "says"),
    [
        # litellm and the native client send URL user-info nowhere: every call would go out
        # unauthenticated (a malformed reply, retried) instead of failing at once.
        ("https://bob:hunter2-PASSWORD@llm.example/v1", "carries credentials in the URL"),
        # The client appends /chat/completions after the query: a silent 404 on every call.
        ("https://llm.example/v1?key=sk-url-0123456789KEY&v=1", "has a query string"),
        ("llm.example:8000/v1", "is not an http(s) URL with a host"),
        ("http://llm.example:port/v1", "is not a URL"),
    ],
)
def test_an_api_base_no_client_can_use_is_refused_naming_it_without_its_secret(
    tmp_path: Path, api_base: str, says: str
) -> None:
    target = f"{{model: openai/gpt-4o, api_base: '{api_base}'}}"
    with pytest.raises(ConfigError) as info:
        load_run_config(write(tmp_path, MINIMAL.replace("{model: openai/gpt-4o}", target)))
    message = str(info.value)
    assert "api_base" in message and says in message
    for secret in ("hunter2-PASSWORD", "sk-url-0123456789KEY"):
        assert secret not in message


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
    from safebench.studies.experiment import configurations, load_experiment

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


# ------------------------------------------------ values that would change results silently


@pytest.mark.parametrize(
    ("voting", "field"),
    [
        ("{rule: majority, tie: Harmful}", "tie"),  # not exactly "harmful": ties went safe
        ("{rule: majority, tie: true}", "tie"),
        ("{rule: supermajority, k: 2.5}", "k"),  # was truncated to 2
        ("{rule: supermajority, k: '2'}", "k"),
        ("{rule: supermajority}", "k"),
        ("{rule: confidence_weighted, threshold: high}", "threshold"),
        ("{rule: majority, ties: safe}", "ties"),  # a misspelt option
        ("{rule: unanimous, k: 2}", "k"),
    ],
)
def test_bad_voting_options_are_config_errors_at_the_field(
    tmp_path: Path, voting: str, field: str
) -> None:
    text = MINIMAL.replace(
        "jurors: [{model: safebench/pattern-juror}]",
        "jurors: [{model: safebench/pattern-juror}, {model: safebench/refusal-juror},"
        " {model: safebench/embedding-juror}]\n  voting: " + voting,
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "jury.voting:" in message and field in message


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("safebench/pattern-juror", "safebench/patern-juror", "jury.jurors.0"),
        ("openai/gpt-4o", "safebench/sim-leakey", "targets.0"),
        ("safebench/pattern-juror", "safebench/simulated/competence=1.5", "jury.jurors.0"),
        ("safebench/pattern-juror", "safebench/simulated/competense=0.5", "jury.jurors.0"),
    ],
)
def test_unknown_offline_models_are_config_errors_naming_the_field(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    path = write(tmp_path, MINIMAL.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert str(path) in str(info.value) and f"{where}:" in str(info.value)


def test_a_misspelt_offline_foreperson_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "  foreperson: {model: safebench/foreman}\n")
    with pytest.raises(ConfigError, match=r"jury\.foreperson: unknown offline model"):
        load_run_config(path)


def test_every_known_offline_model_passes_validation(tmp_path: Path) -> None:
    from agents.offline_catalog import known_offline_names

    for name in [*known_offline_names(), "replay/gpt-4-0613", "simulated/competence=0.7"]:
        load_run_config(write(tmp_path, MINIMAL.replace("pattern-juror", name)))


@pytest.mark.parametrize("model", ["ollama/llama3", "openai/x", "hosted_vllm/m"])
def test_native_transport_without_an_api_base_is_a_config_error(tmp_path: Path, model: str) -> None:
    # anthropic/, gemini/, azure/ and ollama_chat/ have native clients with their provider's
    # endpoint (tests/safebench/test_preflight.py); these have none without an api_base.
    target = f"{{model: {model}, transport: native}}"
    path = write(tmp_path, MINIMAL.replace("{model: openai/gpt-4o}", target))
    with pytest.raises(ConfigError, match=r"targets\.0: transport 'native'"):
        load_run_config(path)
    # With an OpenAI-compatible endpoint named, the same model is accepted.
    served = f"{{model: {model}, transport: native, api_base: 'http://localhost:8000/v1'}}"
    load_run_config(write(tmp_path, MINIMAL.replace("{model: openai/gpt-4o}", served)))
    # Offline simulators bring their own server.
    sim = "{model: safebench/sim-leaky, transport: native}"
    load_run_config(write(tmp_path, MINIMAL.replace("{model: openai/gpt-4o}", sim)))


def test_a_misspelt_offline_judge_is_a_config_error(tmp_path: Path) -> None:
    from generation.judges_config import load_judges_config

    path = tmp_path / "judges.yaml"
    path.write_text(
        "judges:\n  - {name: a, model: safebench/judge}\n  - {name: b, model: safebench/jduge}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"judges\.1: unknown offline model"):
        load_judges_config(path)
