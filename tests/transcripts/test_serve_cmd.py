"""`safebench serve` as a user starts it: a subprocess bound to loopback, answering pages."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from tests.transcripts.conftest import SECRET, AuditRuns


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_binds_loopback_and_serves_the_run(audit_runs: AuditRuns) -> None:
    port = _free_port()
    command = "from safebench.cli.app import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "serve", str(audit_runs.main), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120  # a loaded machine starts the server slowly
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = response.read().decode("utf-8")
                    csp = response.headers["Content-Security-Policy"]
                break
            except OSError:
                if process.poll() is not None:
                    raise AssertionError(process.stdout.read() if process.stdout else "") from None
                time.sleep(0.2)
        assert "Run http-run" in body and "18 case(s)" in body
        assert "script-src" not in csp and SECRET not in body
        # Bound to 127.0.0.1 only: no listening socket on the port has another address.
        if shutil.which("ss"):
            listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
            bound = [line for line in listening.splitlines() if f":{port} " in line]
            assert bound and all("127.0.0.1:" in line for line in bound), bound
    finally:
        process.terminate()
        process.wait(10)
