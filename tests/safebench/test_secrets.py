"""API keys reach the provider and nothing else: no file a run, export or report writes.

One key comes from the environment (``api_key_env``), one is written inline in the config
(``api_key``). The server records the Authorization headers it is sent, so the test knows both
keys were really used; then every byte under the run's folder is searched for them: the store
with its WAL and shared-memory files (kept alive by a reader held open across the run), the
exports, the report and the CLI's own output with debug logs on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from typer.testing import CliRunner

from safebench.cli.app import app
from tests.safebench.helpers import http_run_config, serve_everything, write_config
from tests.support.sim_server import Fault, ServerThread, SimServer

ENV_SECRET = "sk-env-0123456789abcdefENVSECRET"
INLINE_SECRET = "sk-inline-0123456789abcdefINLINESECRET"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HeaderRecordingServer(SimServer):
    """The scripted server, plus a record of every Authorization header it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.authorizations: set[str] = set()

    def make_app(self) -> web.Application:
        app = super().make_app()

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.authorizations.add(request.headers.get("Authorization", ""))
            return await handler(request)

        app.middlewares.append(record)
        return app


@pytest.fixture
def recording_server() -> Iterator[tuple[HeaderRecordingServer, ServerThread]]:
    server = HeaderRecordingServer()
    serve_everything(server)
    thread = ServerThread(server).start()
    try:
        yield server, thread
    finally:
        thread.stop()


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 0, output[-3000:]
    return output


def test_api_keys_reach_the_server_but_no_file_the_run_writes(
    recording_server: tuple[HeaderRecordingServer, ServerThread],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, thread = recording_server
    monkeypatch.setenv("SAFEBENCH_TEST_JUROR_KEY", ENV_SECRET)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = run_dir / "run.sqlite"
    raw = http_run_config(thread.base_url, store, limit=3, concurrency=4)
    for target in raw["targets"]:
        target["api_key"] = INLINE_SECRET
    for juror in raw["jury"]["jurors"]:
        juror.pop("api_key")
        juror["api_key_env"] = "SAFEBENCH_TEST_JUROR_KEY"
    config = write_config(tmp_path / "run.yaml", raw)  # the config itself lives outside
    # Failed attempts are where a provider's error text (and a careless log) would echo a key.
    server.script_faults(
        None, [Fault(kind="rate_limit", retry_after=0.01), "server_error", "garbage", "drop"]
    )

    # A reader held open across the run keeps SQLite from folding its WAL away at the end.
    store.touch()
    reader = sqlite3.connect(store)
    try:
        reader.execute("PRAGMA journal_mode=WAL")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()  # joins the WAL
        logs = cli("run", str(config), "--quiet", "--verbose")
        assert (run_dir / "run.sqlite-wal").stat().st_size > 0
        logs += cli("export", str(store), "--out", str(run_dir / "export.jsonl"), "--calls")
        logs += cli("report", str(store), "--out", str(run_dir / "report"), "--verbose")
        wal_files = [run_dir / "run.sqlite-wal", run_dir / "run.sqlite-shm"]
        assert all(p.is_file() for p in wal_files)
        (run_dir / "cli.log").write_text(logs, encoding="utf-8")

        assert f"Bearer {ENV_SECRET}" in server.authorizations
        assert f"Bearer {INLINE_SECRET}" in server.authorizations
        scanned = [p for p in run_dir.rglob("*") if p.is_file()]
        names = {p.name for p in scanned}
        assert {"run.sqlite", "run.sqlite-wal", "export.jsonl", "report.html", "cli.log"} <= names
        # Debug logging was on, and the failed attempts were logged (with their errors).
        assert logs.count("model_call_retry") >= 3
        for path in scanned:
            data = path.read_bytes()
            for secret in (ENV_SECRET, INLINE_SECRET):
                assert secret.encode() not in data, f"{secret[:10]}… written to {path}"
                # Nor any recognisable piece of it (a key cut or masked partway).
                assert secret[-16:].encode() not in data, f"part of {secret[:10]}… in {path}"
    finally:
        reader.close()


PARAM_SECRET = "sk-param-0123456789abcdefPARAMSECRET"
TOKEN_SECRET = "azure-ad-0123456789abcdefTOKENSECRET"
URL_KEY = "url-key-0123456789abcdefURLQUERYKEY"


def test_credentials_outside_api_key_reach_no_file(
    recording_server: tuple[HeaderRecordingServer, ServerThread], tmp_path: Path
) -> None:
    """Keys in params (extra_body.api_key, api-key, azure_ad_token, extra_headers,
    extra_query) are held as secrets like api_key (an api_base's user-info and ``?key=`` are
    masked as well: tests/safebench/test_config.py)."""
    server, thread = recording_server
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = run_dir / "run.sqlite"
    raw = http_run_config(thread.base_url, store, limit=2, concurrency=4)
    for target in raw["targets"]:
        target["params"] = {
            "extra_body": {"api_key": PARAM_SECRET},
            "api-key": PARAM_SECRET,
            "azure_ad_token": TOKEN_SECRET,
            "extra_headers": {"X-Api-Key": TOKEN_SECRET},
            "extra_query": {"key": URL_KEY},
            "temperature": 0.0,
        }
    config = write_config(tmp_path / "run.yaml", raw)
    server.script_faults(None, ["server_error", "garbage"])
    logs = cli("run", str(config), "--quiet", "--verbose")
    logs += cli("export", str(store), "--out", str(run_dir / "export.jsonl"), "--calls")
    logs += cli("report", str(store), "--out", str(run_dir / "report"), "--verbose")
    (run_dir / "cli.log").write_text(logs, encoding="utf-8")
    assert server.authorizations, "no call reached the server"
    scanned = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"run.sqlite", "export.jsonl", "cli.log"} <= {p.name for p in scanned}
    for path in scanned:
        data = path.read_bytes()
        for secret in (PARAM_SECRET, TOKEN_SECRET, URL_KEY):
            assert secret[-16:].encode() not in data, f"{secret[:10]}… written to {path}"


async def test_a_traceback_through_the_gateway_shows_no_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside the gateway (here: the store closed under it) logged with its
    traceback, as the pipeline logs a failed case, prints neither key nor a piece of one."""
    import structlog

    from agents.gateway import Gateway, GatewaySettings
    from agents.spec import ModelSpec
    from kernel.logs import configure_logging
    from transcripts.store import RunStore

    configure_logging(verbose=True)
    monkeypatch.setenv("SAFEBENCH_TRACEBACK_KEY", ENV_SECRET)
    server = SimServer()
    server.add_model("echo", lambda request: "echo")
    async with server:
        store = RunStore(tmp_path / "run.sqlite")
        store.close()  # every write now raises inside the gateway
        gateway = Gateway(GatewaySettings(max_retries=0), cache=store)
        for spec in (
            ModelSpec(
                model="openai/echo",
                api_base=server.base_url,
                api_key_env="SAFEBENCH_TRACEBACK_KEY",
            ),
            ModelSpec.model_validate(
                {"model": "openai/echo", "api_base": server.base_url, "api_key": INLINE_SECRET}
            ),
        ):
            try:
                await gateway.complete(spec, [{"role": "user", "content": "hi"}], scope="s")
            except Exception:
                structlog.get_logger("test").exception("case_failed", case="c1")
            else:
                raise AssertionError("the closed store did not fail the call")
        await gateway.aclose()
    err = capsys.readouterr().err
    assert "case_failed" in err and "Traceback" in err
    for secret in (ENV_SECRET, INLINE_SECRET):
        assert secret[-16:] not in err, f"part of {secret[:10]}… printed in a traceback"


def test_a_local_classifiers_harmful_token_is_a_word_not_a_secret() -> None:
    # ``harmful_token: unsafe`` (examples/local-models.yaml) was taken for a credential, and
    # "unsafe" was then masked in every later error of the process.
    from kernel import secrets

    for name in ("api_key", "azure_ad_token", "auth_token", "x-goog-api-key"):
        assert secrets.is_secret_name(name), name
    for name in ("harmful_token", "max_tokens", "top_k", "api_key_env"):
        assert not secrets.is_secret_name(name), name
    found = secrets.secret_values({"harmful_token": "unsafe", "api_key": "sk-xyz-123456"})
    assert set(found) == {"sk-xyz-123456"}
