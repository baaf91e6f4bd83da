"""Issue 27, "crashes and hangs instead of clear errors": each input below used to end in a
Python traceback, a hang or an unbounded read; through the CLI it now ends in one line naming
the cause and what to do, with the exit code docs/run-config.md documents for it."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from safebench.cli import failures
from safebench.cli.app import main
from transcripts.store import RunStore
from transcripts.store_base import store_note

SMALL_RUN = """\
name: small
dataset: builtin:seed
modalities: [text]
targets:
  - model: safebench/sim-guarded
jury:
  jurors:
    - {model: safebench/pattern-juror, persona: Ethicist}
  rounds: 1
limit: 1
"""


def cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, list[str]]:
    """``safebench ARGS`` through its entry point (``main``, the last handler included):
    the exit code, stderr, and stderr's ``error:`` lines."""
    # Wide enough that rich does not wrap the one line (a terminal's width is the user's).
    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.setattr(sys, "argv", ["safebench", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    err = capsys.readouterr().err
    code = ended.value.code
    return (
        (code if isinstance(code, int) else 1),
        err,
        [line for line in err.splitlines() if line.startswith("error:")],
    )


def one_line(err: str, lines: list[str]) -> str:
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    return lines[0]


def run_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(SMALL_RUN + extra, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _offline_cost_map(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


# ------------------------------------------------------------------------ 1. the store


def test_a_store_locked_by_another_program_is_one_line_and_exit_6(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "locked.sqlite"
    RunStore(store).close()  # a SafeBench store, held below by another program
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, err, lines = cli(
            ["run", str(run_config(tmp_path)), "--store", str(store), "-q"], capsys, monkeypatch
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    line = one_line(err, lines)
    assert code == failures.EXIT_STORE_LOCKED == 6
    assert str(store) in line and "locked by another program" in line
    assert "rerun the same command" in line


def test_a_random_file_as_store_is_one_line_exit_2_and_left_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "random.sqlite"
    noise = os.urandom(8192)
    store.write_bytes(noise)
    code, err, lines = cli(
        ["run", str(run_config(tmp_path)), "--store", str(store), "-q"], capsys, monkeypatch
    )
    line = one_line(err, lines)
    assert code == 2
    assert str(store) in line and "not a readable SQLite database" in line
    assert store.read_bytes() == noise


def test_a_store_with_damaged_pages_is_one_line_exit_2_and_left_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "damaged.sqlite"
    RunStore(store).close()
    db = sqlite3.connect(store)
    db.execute("PRAGMA journal_mode=DELETE")  # every page in the file itself, none in a WAL
    db.close()
    with store.open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\xff" * 4096 * 3)  # the pages after sqlite_master's
    damaged = store.read_bytes()
    code, err, lines = cli(
        ["run", str(run_config(tmp_path)), "--store", str(store), "-q"], capsys, monkeypatch
    )
    line = one_line(err, lines)
    assert code == 2
    assert str(store) in line and "database disk image is malformed" in line
    assert store.read_bytes() == damaged


def test_a_store_damaged_where_a_run_finds_it_mid_run_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "damaged.sqlite"

    def malformed(db: sqlite3.Connection, path: Path) -> None:
        error = sqlite3.DatabaseError("database disk image is malformed")
        error.add_note(store_note(path))
        raise error

    monkeypatch.setattr("transcripts.store.migrate", malformed)
    code, err, lines = cli(
        ["run", str(run_config(tmp_path)), "--store", str(store), "-q"], capsys, monkeypatch
    )
    line = one_line(err, lines)
    assert code == 2
    assert f"{store} is damaged (database disk image is malformed)" in line


def test_the_sqlite_file_of_another_program_is_refused_and_left_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "notes.sqlite"
    other = sqlite3.connect(store)
    other.execute("CREATE TABLE notes (body TEXT)")
    other.execute("INSERT INTO notes VALUES ('keep me')")
    other.commit()
    other.close()
    before = store.read_bytes()
    code, err, lines = cli(
        ["run", str(run_config(tmp_path)), "--store", str(store), "-q"], capsys, monkeypatch
    )
    line = one_line(err, lines)
    assert code == 2
    assert str(store) in line and "another program" in line and "notes" in line
    assert store.read_bytes() == before  # no SafeBench table added, journal mode as it was
    assert not Path(f"{store}-wal").exists()


def test_a_full_disk_is_one_line_and_exit_7(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk cannot be made without root; SQLite's own error, raised where the store is
    # set up, stands in for it.
    store = tmp_path / "full.sqlite"

    def full(db: sqlite3.Connection, path: Path) -> None:
        error = sqlite3.OperationalError("database or disk is full")
        error.add_note(store_note(path))
        raise error

    monkeypatch.setattr("transcripts.store.migrate", full)
    code, err, lines = cli(
        ["run", str(run_config(tmp_path)), "--store", str(store), "-q"], capsys, monkeypatch
    )
    line = one_line(err, lines)
    assert code == failures.EXIT_NO_SPACE == 7
    assert str(store) in line and "no space left" in line


def test_the_handler_maps_enospc_even_when_another_error_was_raised_handling_it() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/runs/x.sqlite-wal")
        except OSError:
            raise RuntimeError("cleanup failed") from None
    except RuntimeError as exc:
        chained: BaseException = exc
    found = failures.explain(chained)
    assert found is not None and found.exit_code == 7
    assert "no space left on the device writing /runs/x" in found.line
    assert failures.explain(ValueError("a bug")) is None


def test_a_directory_as_store_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "folder.sqlite"
    store.mkdir()
    code, err, lines = cli(
        ["run", str(run_config(tmp_path)), "--store", str(store), "-q"], capsys, monkeypatch
    )
    line = one_line(err, lines)
    assert code == 2 and f"{store}: cannot open the run store" in line


def test_the_handler_names_a_file_it_may_not_write() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied", "/runs/x.sqlite.lock")
    found = failures.explain(denied)
    assert found is not None and found.exit_code == 2
    assert found.line.startswith("/runs/x.sqlite.lock: permission denied")


# --------------------------------------------------------------- 2. unbounded reads


def test_run_of_dev_zero_is_refused_naming_the_file_and_the_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err, lines = cli(["run", "/dev/zero"], capsys, monkeypatch)
    line = one_line(err, lines)
    assert code == 2
    assert "/dev/zero" in line and "16,777,216 bytes" in line


def test_study_of_dev_zero_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err, lines = cli(["study", "/dev/zero"], capsys, monkeypatch)
    line = one_line(err, lines)
    assert code == 2 and "/dev/zero" in line and "16,777,216 bytes" in line


def test_rejudge_with_jury_dev_zero_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "s.sqlite"
    RunStore(store).close()
    code, err, lines = cli(["rejudge", str(store), "--jury", "/dev/zero"], capsys, monkeypatch)
    line = one_line(err, lines)
    assert code == 2 and "/dev/zero" in line and "jury file" in line


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_template_file_of_dev_zero_is_refused(
    suffix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zero = tmp_path / f"templates{suffix}"
    zero.symlink_to("/dev/zero")
    extra = f"attack: {{name: template, params: {{template: x, file: {zero}}}}}\n"
    code, err, lines = cli(["run", str(run_config(tmp_path, extra))], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err
    assert lines  # the config's error line, then the attack's problem
    assert f"{zero}: refused: the template file is over 16,777,216 bytes" in err


def test_a_queries_file_without_line_ends_is_refused_naming_it(tmp_path: Path) -> None:
    from generation.dataset import iter_queries
    from kernel.errors import DatasetError

    (tmp_path / "queries.jsonl").symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match=r"queries.jsonl:1: refused: a line over 16,777,216"):
        next(iter_queries(tmp_path))


@pytest.mark.parametrize("name", ["labels.csv", "labels.json"])
def test_a_label_file_of_dev_zero_is_refused_naming_it(tmp_path: Path, name: str) -> None:
    from jury.labels import load_generic
    from kernel.errors import DatasetError

    zero = tmp_path / name
    zero.symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match=rf"{name}.*refused"):
        load_generic(zero)


# ---------------------------------------------------------- 3. absurd format widths


def test_a_template_asking_a_3gb_width_is_refused_at_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "wide.yaml"
    templates.write_text('wide: "Answer: {query:>2999999999}"\n', encoding="utf-8")
    extra = f"attack: {{name: template, params: {{template: wide, file: {templates}}}}}\n"
    code, err, lines = cli(["run", str(run_config(tmp_path, extra))], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err and "MemoryError" not in err
    assert lines
    assert f"{templates}: template 'wide': the format spec '>2999999999'" in err


def test_a_template_whose_spec_a_string_cannot_take_is_refused() -> None:
    from generation.attacks.templates import template_problem

    assert template_problem("{query:>20}") is None  # a little padding is fine
    assert "cannot be filled" in (template_problem("{query:d}") or "")
    assert "slot of its own" in (template_problem("{query:{query}}") or "")


# ------------------------------------------------------------------------- 4. Ray


def safebench(
    *args: str, cwd: Path, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # A process of its own: a Ray session started by another test is not joined.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(COLUMNS="1000", LITELLM_LOCAL_MODEL_COST_MAP="True", **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "safebench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def ray_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    return one_line(done.stderr, lines)


@pytest.mark.ray
@pytest.mark.parametrize(
    ("address", "says"),
    [("auto", "cannot join the Ray cluster"), ('"127.0.0.1:1"', "no Ray cluster answers there")],
)
def test_a_ray_cluster_that_is_not_there_is_one_line_at_once(
    tmp_path: Path, address: str, says: str
) -> None:
    pytest.importorskip("ray")
    config = run_config(tmp_path, f"executor: ray\nray: {{address: {address}, num_workers: 1}}\n")
    # ``auto`` finds the last cluster started on this machine through Ray's temporary folder
    # (/tmp/ray): an empty one of the test's own, so another test's cluster is not there.
    done = safebench("run", str(config), "-q", cwd=tmp_path, env_extra={"TMPDIR": str(tmp_path)})
    assert done.returncode == 2
    line = ray_error(done)
    assert says in line and "ray.address" in line


@pytest.mark.ray
def test_ray_actors_that_cannot_be_placed_stop_the_run_after_the_start_timeout(
    tmp_path: Path,
) -> None:
    pytest.importorskip("ray")
    workers = (os.cpu_count() or 2) + 2  # one CPU each: more than this machine's cluster has
    config = run_config(
        tmp_path,
        f"executor: ray\nray: {{num_workers: {workers}, start_timeout_s: 3}}\n",
    )
    done = safebench("run", str(config), "-q", cwd=tmp_path)
    assert done.returncode == 2
    line = ray_error(done)
    assert f"of {workers} actors could be placed within 3s" in line
    assert "ray.num_workers" in line


# ---------------------------------------------------------------- 5. output paths


def test_study_out_naming_a_file_is_refused_before_any_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = Path(__file__).parents[2] / "examples" / "offline.yaml"
    spec = tmp_path / "mini.yaml"
    spec.write_text(f"name: mini\nbase: {base}\nmodalities: [text]\n", encoding="utf-8")
    taken = tmp_path / "taken.txt"
    taken.write_text("mine\n", encoding="utf-8")
    code, err, lines = cli(["study", str(spec), "--out", str(taken), "-q"], capsys, monkeypatch)
    line = one_line(err, lines)
    assert code == 2 and f"{taken} is a file, not a folder" in line
    assert taken.read_text(encoding="utf-8") == "mine\n"


def test_init_force_onto_a_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err, lines = cli(["init", "--out", str(tmp_path), "--force"], capsys, monkeypatch)
    line = one_line(err, lines)
    assert code == 2 and f"{tmp_path} is a directory" in line


def test_init_onto_a_dangling_symlink_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    link = tmp_path / "config.yaml"
    link.symlink_to(tmp_path / "nowhere" / "x.yaml")
    code, err, lines = cli(["init", "--out", str(link)], capsys, monkeypatch)
    line = one_line(err, lines)
    assert code == 2 and f"{link} is a symbolic link" in line
    assert not (tmp_path / "nowhere").exists()


def test_init_force_on_a_symlink_does_not_write_through_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep\n", encoding="utf-8")
    link = tmp_path / "config.yaml"
    link.symlink_to(target)
    code, err, lines = cli(["init", "--out", str(link), "--force"], capsys, monkeypatch)
    line = one_line(err, lines)
    assert code == 2 and "writes no file through a link" in line
    assert target.read_text(encoding="utf-8") == "keep\n" and link.is_symlink()


def test_init_still_writes_and_overwrites_a_plain_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sub" / "safebench.yaml"
    assert cli(["init", "--out", str(out)], capsys, monkeypatch)[0] == 0
    out.write_text("old\n", encoding="utf-8")
    assert cli(["init", "--out", str(out), "--force"], capsys, monkeypatch)[0] == 0
    assert out.read_text(encoding="utf-8").startswith("# A starter run config")


# ------------------------------------------------------------ 6. study family sizes


@pytest.mark.parametrize("size", [".nan", ".inf", "-7", "0"])
def test_a_family_size_that_is_not_a_positive_finite_number_is_refused_at_load(
    size: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = Path(__file__).parents[2] / "examples" / "offline.yaml"
    spec = tmp_path / "size.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: size
            base: {base}
            modalities: [text]
            targets:
              - model: safebench/sim-family-s
              - model: safebench/sim-family-l
            families:
              - name: sim-family
                sizes: {{safebench/sim-family-s: 2, safebench/sim-family-l: {size}}}
            """
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    code, err, lines = cli(["study", str(spec), "--out", str(out), "-q"], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err and lines
    assert "families.0.sizes.safebench/sim-family-l" in err
    assert not out.exists()  # refused before any cell ran
