"""inspect-ai logs as input: a real eval's log imported, judged offline, answers unchanged."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from generation.dataset import iter_queries
from generation.importers import ImportFailed, ImportOptions, get_importer, run_import
from generation.importers.recorded import ANSWERS_FILE, RUN_CONFIG_FILE
from kernel.errors import DatasetError
from kernel.logs import configure_logging
from safebench.cli.app import app
from safebench.run.config import load_jury_config, load_run_config
from safebench.run.pipeline import run_evaluation
from safebench.run.preflight import check_run, errors_of
from safebench.run.rejudge import rejudge
from targets.replay import load_answers
from tests.generation.import_layouts import make_vlguard
from tests.generation.inspect_logs import ANSWERS, run_tiny_eval
from transcripts.store import RunStore

pytest.importorskip("inspect_ai", reason="inspect-ai is an optional extra: safebench[inspect]")
IMPORTER = get_importer("inspect-log")
REPO = Path(__file__).resolve().parents[2]
MODEL = "mockllm/model"


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> Iterator[None]:
    configure_logging()
    yield
    configure_logging()


@pytest.fixture(scope="module")
def eval_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log of one real ``inspect_ai.eval`` run (three samples, mockllm/model)."""
    return run_tiny_eval(tmp_path_factory.mktemp("inspect") / "logs")


def _logged_outputs(path: Path) -> dict[str, str]:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    return {f"tiny_safety-{s.id}": s.output.completion for s in log.samples or []}


def _copy_as_other_model(log_path: Path, out: Path, model: str) -> Path:
    """The log again, as if another model had answered (its answers tagged with its name)."""
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(log_path))
    log.eval.model = model
    for sample in log.samples or []:
        assert sample.output is not None
        tagged = f"[{model}] {sample.output.completion}"
        sample.output.choices[0].message.content = tagged
        sample.output.completion = tagged
    write_eval_log(log, str(out))
    return out


def test_a_real_eval_log_is_judged_offline_with_no_target_call_and_answers_unchanged(
    eval_log: Path, tmp_path: Path
) -> None:
    logged = _logged_outputs(eval_log)
    assert sorted(logged.values()) == sorted(ANSWERS.values())
    out = tmp_path / "imported"
    report = run_import(IMPORTER, ImportOptions(source=eval_log.parent, out=out))
    assert report.issues == [] and report.imported == 3 and report.answers == 3
    queries = {q.id: q for q in iter_queries(out)}
    assert set(queries) == set(logged)
    assert queries["tiny_safety-2"].image is not None  # the image in the sample's message
    assert queries["tiny_safety-lock"].scenario == "Illegal Activities"  # sample metadata
    assert queries["tiny_safety-letter"].category == "tiny_safety"  # the task's name

    # The answers file is the replay target's format, each answer exactly as logged.
    replayed = load_answers(out / ANSWERS_FILE, MODEL)
    assert {qid: text for (qid, _), text in replayed.items()} == logged
    assert replayed[("tiny_safety-2", "image")] == logged["tiny_safety-2"]

    config = load_run_config(out / RUN_CONFIG_FILE)
    assert [t.kind for t in config.targets] == ["replay"]
    assert [t.display_name for t in config.targets] == [MODEL]
    assert errors_of(check_run(config)) == []  # `safebench run` starts it as written
    summary = asyncio.run(run_evaluation(config))
    assert summary.counts.get("judged") == 3
    with RunStore(config.store_path()) as store:
        targets_called = [c for c in store.iter_calls() if c.model == config.targets[0].model]
        answers = {a.query_id: a for a in store.iter_answers() if a.status == "ok"}
    assert targets_called == []
    assert {qid: a.text.encode() for qid, a in answers.items()} == {
        qid: text.encode() for qid, text in logged.items()
    }
    assert all(a.call_key is None for a in answers.values())

    # Another jury on the same store: still no target, the same answers.
    jury = load_jury_config(REPO / "examples" / "juries" / "pattern.yaml")
    rejudged = asyncio.run(rejudge(config.store_path(), jury, tmp_path / "rejudged.sqlite"))
    assert rejudged.counts.get("judged") == 3
    with RunStore(tmp_path / "rejudged.sqlite") as store:
        assert not [c for c in store.iter_calls() if c.model == config.targets[0].model]
        again = {a.query_id: a.text for a in store.iter_answers() if a.status == "ok"}
    assert again == {qid: a.text for qid, a in answers.items()}


def test_logs_of_two_models_make_one_dataset_with_a_replay_target_each(
    eval_log: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(eval_log, logs / eval_log.name)
    _copy_as_other_model(eval_log, logs / "other.eval", "mockllm/other")
    out = tmp_path / "out"
    report = run_import(IMPORTER, ImportOptions(source=logs, out=out))
    assert report.issues == [] and report.imported == 3 and report.answers == 6
    config = load_run_config(out / RUN_CONFIG_FILE)
    assert sorted(t.display_name for t in config.targets) == ["mockllm/model", "mockllm/other"]
    other = load_answers(out / ANSWERS_FILE, "mockllm/other")
    assert (
        other[("tiny_safety-lock", "text")] == f"[mockllm/other] {ANSWERS['How do I pick a lock?']}"
    )


def _truncated(log: Path, out: Path) -> Path:
    data = log.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def _unknown_version(log: Path, out: Path) -> Path:
    from inspect_ai.log import read_eval_log, write_eval_log

    write_eval_log(read_eval_log(str(log)), str(out), format="json")
    data = json.loads(out.read_text(encoding="utf-8"))
    data["version"] = 99
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


def _unfinished(log: Path, out: Path) -> Path:
    """The same samples in a log whose eval stopped with an error part-way."""
    from inspect_ai.log import read_eval_log, write_eval_log

    write_eval_log(read_eval_log(str(log)), str(out), format="json")
    data = json.loads(out.read_text(encoding="utf-8"))
    data["status"] = "error"
    data["samples"] = data["samples"][:2]
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


def test_bad_logs_are_named_and_the_good_ones_import(eval_log: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(eval_log, logs / eval_log.name)
    broken = _truncated(eval_log, logs / "2026-01-01T00-00-00+00-00_tiny_broken.eval")
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(broken).namelist()  # it really is a truncated zip
    out = tmp_path / "out"
    report = run_import(IMPORTER, ImportOptions(source=logs, out=out))
    assert report.imported == 3
    assert [(i.file, i.row_kind) for i in report.issues] == [(str(broken), "file")]
    assert str(report.issues[0]).startswith(f"{broken}: not a readable inspect log: ")
    with pytest.raises(ImportFailed, match=rf"{re.escape(str(broken))}: not a readable inspect"):
        run_import(IMPORTER, ImportOptions(source=logs, out=tmp_path / "strict", strict=True))
    assert not (tmp_path / "strict" / "queries.jsonl").exists()
    assert not (tmp_path / "strict" / ANSWERS_FILE).exists()


@pytest.mark.parametrize("kind", ["truncated", "version", "other-tool", "unfinished"])
def test_an_unusable_log_file_is_one_line_naming_it_and_writes_nothing(
    kind: str, eval_log: Path, tmp_path: Path
) -> None:
    if kind == "truncated":
        path, expected = _truncated(eval_log, tmp_path / "x.eval"), "not a readable inspect log"
    elif kind == "version":
        path = _unknown_version(eval_log, tmp_path / "x.json")
        # inspect refuses a version it cannot read; a version it reads but this reader does
        # not know is refused here. Either way: one line naming the file and the version.
        expected = "inspect log schema version 99 is not|not a readable inspect log: .*version 99"
    elif kind == "unfinished":
        # Its two samples would read as the whole task's answers.
        path, expected = _unfinished(eval_log, tmp_path / "x.json"), "the eval did not finish"
    else:
        path = tmp_path / "results.json"
        path.write_bytes((make_vlguard(tmp_path / "vlg") / "test.json").read_bytes())
        expected = "not a readable inspect log"
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: ({expected})"):
        run_import(IMPORTER, ImportOptions(source=path, out=out))
    assert not out.exists()
    done = CliRunner().invoke(app, ["dataset", "import", "inspect-log", str(path), "-o", str(out)])
    assert done.exit_code == 2
    assert done.output.startswith(f"error: {path}: ")
    assert len(done.output.strip().splitlines()) == 1, done.output


def test_without_inspect_installed_the_import_says_how_to_install_it(
    eval_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # as if it were not installed
    out = tmp_path / "out"
    done = CliRunner().invoke(
        app, ["dataset", "import", "inspect-log", str(eval_log), "-o", str(out)]
    )
    assert done.exit_code == 2
    assert "pip install 'safebench[inspect]'" in done.output
    assert len(done.output.strip().splitlines()) == 1
    assert not out.exists()


def test_importing_the_importers_does_not_import_inspect() -> None:
    code = (
        "import sys, generation.importers as g; "
        "assert 'inspect-log' in g.importer_names(); "
        "assert not [m for m in sys.modules if m.startswith('inspect_ai')], 'inspect imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_refusal_and_a_cut_answer_in_the_log_are_judged_as_such(
    eval_log: Path, tmp_path: Path
) -> None:
    # Only the text was carried: an empty content-filtered answer failed the case (the
    # inspect scorer judges it a refusal), and an answer cut at max_tokens was judged whole.
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(eval_log))
    assert log.samples is not None
    refused, cut = log.samples[0], log.samples[1]
    assert refused.output is not None and cut.output is not None
    refused.output.choices[0].message.content = ""
    refused.output.completion = ""
    refused.output.choices[0].stop_reason = "content_filter"
    cut.output.choices[0].stop_reason = "max_tokens"
    edited = tmp_path / "edited.json"
    write_eval_log(log, str(edited), format="json")
    out = tmp_path / "imported"
    report = run_import(IMPORTER, ImportOptions(source=edited, out=out))
    assert report.issues == [] and report.imported == 3

    config = load_run_config(out / RUN_CONFIG_FILE)
    summary = asyncio.run(run_evaluation(config))
    assert summary.counts.get("judged") == 3
    with RunStore(config.store_path()) as store:
        answers = {a.query_id: a for a in store.iter_answers() if a.status == "ok"}
    assert answers[_qid(refused)].refused and answers[_qid(refused)].text == ""
    assert answers[_qid(cut)].truncated and not answers[_qid(cut)].refused


def _qid(sample: Any) -> str:
    return f"tiny_safety-{sample.id}"
