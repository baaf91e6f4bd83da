"""Numbers and names that change results are read strictly (issue 27): ``max_calls: yes`` is
not 1, ``'10'`` is not 10, an empty rubric is not the default, a family size must be
positive, and a backbone pair must name targets of the run. Each is a ConfigError naming
the field, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ConfigError
from safebench.run.config import load_run_config
from safebench.studies.runner import run_study
from safebench.studies.spec import load_study

BASE = """\
name: strict
dataset: builtin:seed
modalities: [text]
targets:
  - {model: safebench/sim-leaky, name: leaky}
  - {model: safebench/sim-guarded, name: guarded}
jury:
  jurors:
    - {model: safebench/pattern-juror}
  rounds: 0
"""


def run_config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(BASE + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("budget: {max_calls: yes}\n", "budget.max_calls"),
        ("budget: {max_calls: '10'}\n", "budget.max_calls"),
        ("budget: {max_calls: 2.0}\n", "budget.max_calls"),
        ("budget: {max_usd: '1.5'}\n", "budget.max_usd"),
        ("budget: {max_usd: true}\n", "budget.max_usd"),
    ],
)
def test_a_budget_is_a_number_not_a_word_or_a_string(
    tmp_path: Path, extra: str, field: str
) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_run_config(run_config(tmp_path, extra))


def test_numbers_written_as_numbers_still_read(tmp_path: Path) -> None:
    config = load_run_config(run_config(tmp_path, "budget: {max_calls: 10, max_usd: 2}\n"))
    assert config.budget.max_calls == 10 and config.budget.max_usd == 2.0


@pytest.mark.parametrize(
    ("jury", "field"),
    [
        ({"jurors": [{"model": "safebench/pattern-juror"}], "rubric": ""}, r"jury\.rubric"),
        ({"jurors": [{"model": "safebench/pattern-juror", "rubric": " "}]}, r"jurors\.0\.rubric"),
    ],
)
def test_an_empty_rubric_is_refused_not_read_as_the_default(
    tmp_path: Path, jury: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{field}[\s\S]*rubric is empty"):
        load_run_config(run_config(tmp_path, ""), {"jury": jury})


def write_study(tmp_path: Path, body: str) -> Path:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    path = tmp_path / "study.yaml"
    path.write_text("name: s\nbase: base.yaml\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("size", ["-7", "0", "'7'", "yes"])
def test_a_family_size_is_a_positive_number(tmp_path: Path, size: str) -> None:
    body = f"families:\n  - name: sim\n    sizes: {{leaky: {size}, guarded: 7}}\n"
    with pytest.raises(ConfigError, match=r"families\.0\.sizes\.leaky"):
        load_study(write_study(tmp_path, body))


@pytest.mark.parametrize("field", ["model", "backbone"])
async def test_a_pair_naming_no_target_of_the_run_is_refused_before_any_cell(
    tmp_path: Path, field: str
) -> None:
    names = {"model": "leaky", "backbone": "guarded", field: "leaky-typo"}
    body = f"pairs:\n  - {{model: {names['model']}, backbone: {names['backbone']}}}\n"
    spec = load_study(write_study(tmp_path, body))
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=rf"pairs\[0\]\.{field}: 'leaky-typo' is not a target"):
        await run_study(spec, out)
    assert not out.exists() or not any(out.rglob("*.sqlite")), "a cell ran"
