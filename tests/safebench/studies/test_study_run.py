"""``safebench study`` end to end on the offline stack (simulated targets over the product's
own HTTP server, pattern and refusal jurors): cells, their names, resume, outputs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from generation.dataset import iter_queries, write_dataset
from kernel.errors import ConfigError
from safebench.cli.app import app
from safebench.run.pipeline import run_evaluation
from safebench.studies.cells import base_config, cell_modalities, expand
from safebench.studies.datasets import prepare_datasets
from safebench.studies.runner import run_study
from safebench.studies.spec import load_study
from transcripts.store import RunStore

BASE = """\
name: base
dataset: builtin:seed
modalities: [image]
targets:
  - model: safebench/sim-leaky
  - model: safebench/sim-guarded
jury:
  jurors:
    - {model: safebench/pattern-juror}
    - {model: safebench/refusal-juror}
    - {model: safebench/pattern-juror, persona: Ethicist}
  rounds: 0
concurrency: 8
"""


def write_spec(folder: Path, body: str, base: str = BASE) -> Path:
    (folder / "base.yaml").write_text(base, encoding="utf-8")
    path = folder / "study.yaml"
    path.write_text(body, encoding="utf-8")
    return path


TWO_CONDITIONS = """\
name: t
base: base.yaml
limit: 3
axes:
  condition: [refined, noise]
"""


async def test_cells_are_named_from_their_values_and_what_decides_their_results(
    tmp_path: Path,
) -> None:
    spec = load_study(write_spec(tmp_path, TWO_CONDITIONS + "  attack: [none, typographic]\n"))
    base = base_config(spec)
    out = tmp_path / "out"
    data = await prepare_datasets(spec, base.dataset, cell_modalities(spec, base), out)
    cells = expand(spec, data, out)
    assert [c.values for c in cells] == [
        {"condition": "refined", "attack": "none"},
        {"condition": "refined", "attack": "typographic"},
        {"condition": "noise", "attack": "none"},
        {"condition": "noise", "attack": "typographic"},
    ]
    assert cells[1].name.startswith("t.condition-refined_attack-typographic-")
    assert cells[1].config.attack is not None and cells[1].config.attack.name == "typographic"
    assert cells[0].config.attack is None
    assert cells[2].config.dataset.endswith("controls/noise")
    assert len({c.store for c in cells}) == 4
    # The same spec names the same cells; a changed cell (another limit) is a new one.
    again = expand(spec, data, out)
    assert [c.name for c in again] == [c.name for c in cells]
    plain = expand(load_study(write_spec(tmp_path, TWO_CONDITIONS)), data, out)
    changed = load_study(write_spec(tmp_path, TWO_CONDITIONS.replace("limit: 3", "limit: 4")))
    renamed = expand(changed, data, out)
    assert renamed[0].name.rsplit("-", 1)[0] == plain[0].name.rsplit("-", 1)[0]
    assert renamed[0].name != plain[0].name


async def test_a_half_finished_study_resumes_without_asking_again(tmp_path: Path) -> None:
    spec = load_study(write_spec(tmp_path, TWO_CONDITIONS))
    out = tmp_path / "out"
    base = base_config(spec)
    data = await prepare_datasets(spec, base.dataset, cell_modalities(spec, base), out)
    first, second = expand(spec, data, out)
    # The study stopped after its first cell.
    await run_evaluation(first.config)
    assert not second.store.exists()
    result = await run_study(spec, out)
    done, fresh = result.outcomes
    assert done.cell.name == first.name and fresh.cell.name == second.name
    assert done.model_calls == 0 and done.counts == {"judged": 6}
    assert fresh.model_calls > 0 and fresh.counts == {"judged": 6}
    # Rerun: every cell resumes, no model is asked again, the tables are the same.
    table = (out / "study.md").read_text()
    rerun = await run_study(spec, out)
    assert [o.model_calls for o in rerun.outcomes] == [0, 0]
    assert (out / "study.md").read_text() == table


async def test_outputs_name_every_cell_and_axis(tmp_path: Path) -> None:
    spec = load_study(write_spec(tmp_path, TWO_CONDITIONS))
    out = tmp_path / "out"
    result = await run_study(spec, out)
    md = (out / "study.md").read_text()
    assert "## ASR (%) by condition" in md and "## ASR uplift over condition refined" in md
    assert "| safebench/sim-leaky | " in md and "n=3" in md
    # The metrics' definitions are recorded with the numbers they produced.
    assert "ASR: Attack success rate: the share of decided verdicts" in md
    assert "SRI: Safety Risk Index, 0-100, higher is safer" in md
    header = (out / "study.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == ["cell", "condition"] and "uplift_condition_low" in header
    assert (out / "plots" / "asr_by_condition.png").read_bytes()[:4] == b"\x89PNG"
    html = (out / "study.html").read_text()
    for outcome in result.outcomes:
        report = out / "cells" / outcome.cell.name / "report.html"
        assert report.is_file()
        assert f'href="cells/{outcome.cell.name}/report.html"' in html
    # The rows are the stores' own numbers.
    store = RunStore.open_readonly(result.outcomes[1].cell.store)
    try:
        harmful = sum(
            1 for m, v in store.judged() if m.target == "safebench/sim-leaky" and v.harmful
        )
    finally:
        store.close()
    row = next(
        r
        for r in result.rows
        if r.values == {"condition": "noise"}
        and r.target == "safebench/sim-leaky"
        and r.category == "all"
    )
    assert row.score.harmful == harmful and row.score.n == 3


async def test_sample_is_stratified_seeded_and_the_same_in_every_cell(tmp_path: Path) -> None:
    body = TWO_CONDITIONS.replace("limit: 3\n", "") + "sample: {per_category: 2, seed: 3}\n"
    spec = load_study(write_spec(tmp_path, body))
    base = base_config(spec)
    data = await prepare_datasets(spec, base.dataset, ["image"], tmp_path / "a")
    again = await prepare_datasets(spec, base.dataset, ["image"], tmp_path / "b")
    refined = list(iter_queries(data.roots[("base", "refined")]))
    noise = list(iter_queries(data.roots[("base", "noise")]))
    categories = {q.category for q in refined}
    assert len(categories) == 8 and len(refined) == 16
    assert all(sum(q.category == c for q in refined) == 2 for c in categories)
    assert [q.id for q in noise] == [q.id for q in refined]
    assert [q.id for q in iter_queries(again.roots[("base", "refined")])] == [q.id for q in refined]
    assert data.sampled is not None and "2 per category from 8 categories" in data.sampled


async def test_a_user_dataset_without_controls_or_voices_is_refused_naming_the_command(
    tmp_path: Path,
) -> None:
    seed = tmp_path / "seed-copy"
    spec = load_study(write_spec(tmp_path, TWO_CONDITIONS))
    base = base_config(spec)
    data = await prepare_datasets(spec, base.dataset, ["image"], tmp_path / "first")
    write_dataset(seed, iter_queries(data.roots[("base", "refined")]))
    user = write_spec(tmp_path, TWO_CONDITIONS, BASE.replace("builtin:seed", str(seed)))
    spec = load_study(user)
    with pytest.raises(ConfigError, match=r"no 'noise' control images .*safebench media"):
        await prepare_datasets(spec, str(seed), ["image"], tmp_path / "out")
    voices = load_study(
        write_spec(
            tmp_path,
            "name: v\nbase: base.yaml\naxes:\n  modality: [audio:female]\n",
            BASE.replace("builtin:seed", str(seed)),
        )
    )
    with pytest.raises(ConfigError, match=r"no speech in voice 'female'.*safebench media"):
        await prepare_datasets(voices, str(seed), ["audio:female"], tmp_path / "out")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "name: t\nbase: base.yaml\naxes:\n  condition: [refined, sepia]\n",
            "unknown image condition 'sepia'",
        ),
        (
            "name: t\nbase: base.yaml\naxes:\n  condition: [refined]\nbaseline: {attack: none}\n",
            "baseline names 'attack', which the study does not vary",
        ),
        (
            "name: t\nbase: base.yaml\naxes:\n  modality: [image, image]\n",
            "axes.modality repeats image",
        ),
        ("name: t\nbase: base.yaml\naxis:\n  condition: [refined]\n", "axis: unknown field"),
        ("name: t\nbase: missing.yaml\n", "base: no run config at"),
    ],
)
def test_bad_specs_are_refused_naming_file_and_field(
    tmp_path: Path, body: str, message: str
) -> None:
    path = write_spec(tmp_path, body)
    result = CliRunner().invoke(app, ["study", str(path), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert message in output and str(path) in result.output.replace("\n", "")


def test_a_bad_cell_names_its_values(tmp_path: Path) -> None:
    # The spec is valid; its cell is not (no template of that name).
    attack = "{name: template, params: {template: nope}}"
    body = f"name: t\nbase: base.yaml\naxes:\n  attack: [none, {attack}]\n"
    path = write_spec(tmp_path, body)
    result = CliRunner().invoke(app, ["study", str(path), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "cell attack=template" in output and "nope" in output


def test_a_bad_modality_is_refused_before_any_work(tmp_path: Path) -> None:
    body = "name: t\nbase: base.yaml\naxes:\n  modality: [image, audio:Female]\n"
    result = CliRunner().invoke(
        app, ["study", str(write_spec(tmp_path, body)), "--out", str(tmp_path / "o"), "-q"]
    )
    assert result.exit_code == 2
    assert "axes.modality: unknown modality 'audio:Female'" in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_study_command_writes_the_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # --limit replaces the spec's limit (3 here): one query per cell.
    path = write_spec(tmp_path, "name: t\nbase: base.yaml\nlimit: 3\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["study", str(path), "-q", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert "ASR and SRI per model" in Path("runs/study-t/study.md").read_text()
    assert "t.base-" in result.output and "complete" in result.output
    (cell,) = Path("runs/study-t/cells").glob("*.sqlite")
    with RunStore.open_readonly(cell) as store:
        assert len({row.query_id for row in store.iter_cases()}) == 1


async def test_the_none_cell_is_vanilla_even_when_the_base_has_an_attack(tmp_path: Path) -> None:
    base = BASE + "attack: {name: template, params: {template: fiction}}\n"
    body = "name: t\nbase: base.yaml\nlimit: 2\naxes:\n  attack: [none, typographic]\n"
    spec = load_study(write_spec(tmp_path, body, base))
    data = await prepare_datasets(spec, "builtin:seed", ["image"], tmp_path / "out")
    none, typographic = expand(spec, data, tmp_path / "out")
    assert none.config.attack is None
    assert typographic.config.attack is not None
    assert typographic.config.attack.name == "typographic"


async def test_a_cells_name_does_not_depend_on_how_the_folder_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_study(write_spec(tmp_path, TWO_CONDITIONS))
    monkeypatch.chdir(tmp_path)
    relative = Path("out")
    data = await prepare_datasets(spec, "builtin:seed", ["image"], relative)
    absolute = await prepare_datasets(spec, "builtin:seed", ["image"], tmp_path / "out")
    assert [c.name for c in expand(spec, data, relative)] == [
        c.name for c in expand(spec, absolute, tmp_path / "out")
    ]


async def test_a_cell_stopped_by_its_budget_is_reported_and_the_others_run(
    tmp_path: Path,
) -> None:
    # Each cell is a run with the base config's budget; 10 calls stop the first cell
    # (3 queries x 2 targets, each with a target call and three juror calls).
    spec = load_study(write_spec(tmp_path, TWO_CONDITIONS, BASE + "budget: {max_calls: 10}\n"))
    result = await run_study(spec, tmp_path / "out")
    assert [o.status for o in result.outcomes] == ["budget", "budget"]
    assert all(0 < o.model_calls <= 10 for o in result.outcomes)
    assert (tmp_path / "out" / "study.md").is_file()
    # The budget admits whole cases: every case it started finished, none was left half
    # asked (so there is nothing to read back), and the finished ones are kept.
    assert all(o.counts.get("judged", 0) >= 1 for o in result.outcomes)
    assert all("failed" not in o.counts for o in result.outcomes)
    raised = load_study(write_spec(tmp_path, TWO_CONDITIONS, BASE + "budget: {max_calls: 100}\n"))
    again = await run_study(raised, tmp_path / "out")
    assert [o.cell.name for o in again.outcomes] == [o.cell.name for o in result.outcomes]
    assert [o.status for o in again.outcomes] == ["complete", "complete"]
    for first, second in zip(result.outcomes, again.outcomes, strict=True):
        # Only the cases the first session never started were asked: fewer calls than a
        # whole cell, none of them read back.
        assert second.cached_calls == 0 and second.model_calls > 0
        with RunStore.open_readonly(second.cell.store) as store:
            recorded = store.spending()[0]
        assert first.model_calls + second.model_calls == recorded


async def test_bare_audio_on_the_seed_gets_speech(tmp_path: Path) -> None:
    body = "name: t\nbase: base.yaml\nlimit: 2\naxes:\n  modality: [audio, audio+text]\n"
    spec = load_study(write_spec(tmp_path, body))
    data = await prepare_datasets(spec, "builtin:seed", ["audio", "audio+text"], tmp_path / "o")
    queries = list(iter_queries(data.roots[("base", "refined")]))
    assert all(q.audio for q in queries)


def test_a_cell_where_no_case_was_judged_is_not_complete(tmp_path: Path) -> None:
    # The base config's simulated targets take no audio: every case of the cell is skipped.
    body = "name: t\nbase: base.yaml\nlimit: 1\naxes:\n  modality: [audio:male]\n"
    path = write_spec(tmp_path, body)
    result = CliRunner().invoke(app, ["study", str(path), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 3, result.output
    output = " ".join(result.output.split())
    assert "no verdicts" in output and "cells not complete" in output
    assert "no case was judged (skipped 2)" in (tmp_path / "o" / "study.md").read_text()


def test_a_cell_whose_cases_failed_lists_its_failures_grouped_by_cause(tmp_path: Path) -> None:
    # A target no server answers (port 9 refuses): every case of the cell fails, and the
    # study ends with the failures grouped by cause, as a run does.
    base = BASE.replace(
        "  - model: safebench/sim-leaky\n  - model: safebench/sim-guarded\n",
        "  - {model: openai/gone, api_base: 'http://127.0.0.1:9/v1', api_key: sk-x}\n",
    ).replace("modalities: [image]", "modalities: [text]")
    base += "gateway: {max_retries: 0, timeout_s: 30}\n"
    path = write_spec(tmp_path, "name: t\nbase: base.yaml\nlimit: 1\n", base)
    result = CliRunner().invoke(app, ["study", str(path), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 3, result.output
    output = " ".join(result.output.split())
    assert "failed: 1 case | target |" in output and "openai/gone" in output
