"""A config unpickled in another process remembers its secrets, as a validated one does.

Worker processes (``workers:``) and Ray actors receive the run's config pickled, which skips
the validators that remember credentials; each check here unpickles a config in a process
that never validated it and scrubs a text holding every secret.
"""

from __future__ import annotations

import multiprocessing
import pickle
import subprocess
import sys
from pathlib import Path
from queue import Queue
from typing import Any

import pytest

from kernel import secrets
from safebench.run.config import RunConfig

REPO = Path(__file__).resolve().parents[2]
PARAM_SECRET = "sk-param-0123456789PARAMSECRET"
HEADER_TOKEN = "tok-header-0123456789HEADERTOKEN"
INLINE_SECRET = "sk-inline-0123456789INLINESECRET"
LEAK = f"provider said: bad key {PARAM_SECRET} / Bearer {HEADER_TOKEN} / {INLINE_SECRET}"


def secret_config(tmp_path: Path) -> RunConfig:
    secret_seat = {
        "model": "openai/gpt-4o-mini",
        "api_base": "http://127.0.0.1:8000/v1",
        "api_key": INLINE_SECRET,
        "params": {
            "extra_body": {"api_key": PARAM_SECRET},
            "default_headers": {"Authorization": f"Bearer {HEADER_TOKEN}"},
        },
    }
    return RunConfig.model_validate(
        {
            "name": "secrets",
            "store": str(tmp_path / "run.sqlite"),
            "targets": [secret_seat],
            "jury": {"jurors": [{"model": "safebench/pattern-juror"}, secret_seat]},
        }
    )


def assert_scrubbed(text: str) -> None:
    for secret in (PARAM_SECRET, HEADER_TOKEN, INLINE_SECRET):
        assert secret not in text, text
    assert secrets.MASK in text


def test_a_fresh_interpreter_unpickling_the_config_scrubs_its_secrets(tmp_path: Path) -> None:
    child = (
        "import pickle, sys\n"
        "from kernel import secrets\n"
        "leak = sys.argv[1]\n"
        "assert secrets.scrub(leak) == leak  # nothing remembered before the config arrives\n"
        "pickle.loads(sys.stdin.buffer.read())\n"
        "print(secrets.scrub(leak))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, LEAK],
        input=pickle.dumps(secret_config(tmp_path)),
        capture_output=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert_scrubbed(done.stdout.decode())


def scrub_in_worker(config: RunConfig, leak: str, out: Queue[str]) -> None:
    # The config arrived pickled, as ``safebench.run.workers._worker_main``'s does.
    del config
    out.put(secrets.scrub(leak))


def test_a_worker_process_scrubs_the_secrets_of_the_config_it_was_sent(tmp_path: Path) -> None:
    # forkserver, as the workers run: the child is not a fork of this (remembering) process.
    context = multiprocessing.get_context("forkserver")
    out: Any = context.Queue()
    process = context.Process(target=scrub_in_worker, args=(secret_config(tmp_path), LEAK, out))
    process.start()
    try:
        assert_scrubbed(out.get(timeout=120))
    finally:
        process.join(timeout=30)


@pytest.mark.ray
def test_a_ray_actor_scrubs_the_secrets_of_the_config_it_was_sent(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the safebench[ray] extra")

    @ray.remote
    class Scrubber:
        def scrub(self, config: RunConfig, leak: str) -> str:
            del config
            return secrets.scrub(leak)

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, logging_level="WARNING")
    try:
        actor = Scrubber.remote()  # type: ignore[attr-defined]
        assert_scrubbed(ray.get(actor.scrub.remote(secret_config(tmp_path), LEAK), timeout=120))
    finally:
        if started:
            ray.shutdown()
