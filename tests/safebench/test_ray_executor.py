"""``executor: ray``: the run's cases on Ray actors of a local cluster started by the tests.

Same verdicts as one process, case by case; a killed actor, then a resume, asks no recorded
call again (counted at a real server); the budget is shared out and never passed; an ``hf/``
target runs on an actor; without Ray installed, a ConfigError says what to install.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import ConfigError, SafeBenchError
from safebench.run.config import RunConfig
from safebench.run.executors.ray_run import actor_gpus, actor_name
from safebench.run.pipeline import RunOverBudget, run_evaluation
from tests.safebench.helpers import http_run_config, serve_everything
from tests.safebench.test_workers import offline_config, share_salt, verdicts_of
from tests.support.recorded import wait_until_recorded
from tests.support.sim_server import RequestLogEntry, ServerThread, SimServer
from transcripts.store import RunStore

ray = pytest.importorskip("ray", reason="the safebench[ray] extra (make setup installs it)")

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def ray_cluster() -> Iterator[None]:
    """One local cluster for the module (starting one takes seconds): 2 CPUs, no dashboard."""
    # Actors at the driver's priority, as a cluster the executor starts itself runs them:
    # at Ray's default niceness a loaded machine starves them.
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        _system_config={"worker_niceness": 0},
    )
    try:
        yield
    finally:
        ray.shutdown()


def on_ray(config: RunConfig, **ray_settings: Any) -> RunConfig:
    settings = {"num_workers": 2, "num_cpus_per_worker": 1, **ray_settings}
    return RunConfig.model_validate(
        {**config.model_dump(), "workers": 1, "executor": "ray", "ray": settings}
    )


def first_actor(config: RunConfig) -> str:
    """The name of the running session's case actor 0 (its session tag is random)."""
    prefix, suffix = actor_name(config, "", 0).split("::")
    names = [
        n
        for n in ray.util.list_named_actors()
        if n.startswith(prefix + ":") and n.endswith(":" + suffix)
    ]
    assert len(names) == 1, names
    return names[0]


def answers_of(path: Path) -> dict[str, str]:
    with RunStore(path) as store:
        return {a.case_id: a.text for a in store.iter_answers()}


async def test_ray_gives_the_same_verdicts_as_one_process_case_by_case(tmp_path: Path) -> None:
    one = offline_config(tmp_path / "one.sqlite", workers=1)
    single = await run_evaluation(one)
    config = on_ray(offline_config(tmp_path / "ray.sqlite", workers=1))
    share_salt(one.store_path(), config.store_path(), config.name)
    distributed = await run_evaluation(config)

    assert distributed.status == "complete"
    assert distributed.counts == single.counts and single.counts["judged"] >= 15
    assert verdicts_of(config.store_path()) == verdicts_of(one.store_path())
    assert answers_of(config.store_path()) == answers_of(one.store_path())
    assert distributed.model_calls == single.model_calls
    with RunStore(config.store_path()) as store:
        assert store.integrity_check() == "ok"
        assert store.run_record().status == "complete"
        # Every call the actors made is in the driver's store.
        assert sum(store.call_counts().values()) == single.model_calls


@pytest.mark.slow
async def test_ray_gives_the_harm_judges_verdicts_as_one_process(tmp_path: Path) -> None:
    # The harm judge once broke parity: its p(harmful) moved with what shared its forward
    # pass and the thread count (a Ray actor runs with one thread). The pattern and refusal
    # jurors alone could not see that.
    harm = {
        "jury": {
            "jurors": [
                {"model": "safebench/harm-judge", "persona": "Safety researcher"},
                {"model": "safebench/harm-judge", "persona": "Ethicist"},
                {"model": "safebench/pattern-juror", "persona": "Legal expert"},
            ],
            "rounds": 1,
        },
        "modalities": ["text"],
        "limit": 3,
    }
    one = offline_config(tmp_path / "one.sqlite", workers=1, **harm)
    await run_evaluation(one)
    config = on_ray(offline_config(tmp_path / "ray.sqlite", workers=1, **harm))
    share_salt(one.store_path(), config.store_path(), config.name)
    distributed = await run_evaluation(config)
    assert distributed.status == "complete" and distributed.counts == {"judged": 6}
    assert verdicts_of(config.store_path()) == verdicts_of(one.store_path())

    def votes(path: Path) -> list[tuple[str, str, int, float | None]]:
        with RunStore(path) as store:
            return sorted(
                (v.case_id, v.juror, v.round, None if v.payload is None else v.payload.confidence)
                for v in store.iter_votes()
            )

    assert votes(config.store_path()) == votes(one.store_path())


async def test_a_killed_actor_then_a_resume_repeats_no_recorded_call(tmp_path: Path) -> None:
    server = serve_everything(SimServer(latency_s=0.01))
    thread = ServerThread(server).start()
    try:
        store = tmp_path / "run.sqlite"
        config = on_ray(RunConfig.model_validate(http_run_config(thread.base_url, store, limit=4)))
        kill_at = 30
        answered_at_kill: list[str] = []
        killed = threading.Event()

        def freeze_then_kill(entry: RequestLogEntry) -> None:
            if entry.seq + 1 != kill_at:
                return
            server.hold()

            def kill() -> None:
                # Once the actors have recorded every answer they already have, kill one hard.
                answered = server.answered_keys()
                wait_until_recorded(store, len(answered))
                answered_at_kill.extend(answered)
                ray.kill(ray.get_actor(first_actor(config)), no_restart=True)
                killed.set()
                server.release()

            threading.Thread(target=kill, daemon=True).start()

        server.on_request = freeze_then_kill
        with pytest.raises(SafeBenchError, match="ray worker 0 died"):
            await run_evaluation(config)
        assert killed.is_set(), "the run finished before an actor could be killed"
        first_run_requests = len(server.requests)
        server.on_request = None
        with RunStore(store) as opened:
            assert opened.run_record().status == "stopped"

        resumed = await run_evaluation(config)
        assert resumed.status == "complete"
        resumed_keys = [e.body_key for e in server.requests[first_run_requests:]]
        assert resumed_keys, "the resumed run had nothing left to do"
        repeated = set(resumed_keys) & set(answered_at_kill)
        assert repeated == set(), f"{len(repeated)} answered calls were asked again"
        # 4 queries x 2 modalities x 2 targets; the text-only target skips image cases.
        assert resumed.counts == {"judged": 12, "skipped": 4}
        with RunStore(store) as opened:
            assert opened.integrity_check() == "ok"
            # Each recorded call was asked once: the server saw no more requests than that.
            assert sum(opened.call_counts().values()) <= len(server.requests)
    finally:
        thread.stop()


async def test_the_budget_is_shared_out_among_actors_and_never_passed(tmp_path: Path) -> None:
    thread = ServerThread(serve_everything(SimServer())).start()
    try:
        base = http_run_config(
            thread.base_url, tmp_path / "run.sqlite", limit=3, budget={"max_calls": 21}
        )
        config = on_ray(RunConfig.model_validate(base))
        with pytest.raises(RunOverBudget) as stopped:
            await run_evaluation(config)
        assert thread.server.count() <= 21
        assert stopped.value.summary.status == "budget"
        assert "shared out among 2 workers" in str(stopped.value)
        with RunStore(config.store_path()) as opened:
            assert opened.spending()[0] == thread.server.count()
            assert opened.run_record().status == "budget"
    finally:
        thread.stop()


async def test_an_hf_target_runs_on_an_actor(tmp_path: Path) -> None:
    from tests.agents.tiny_models import build_text_model

    model = build_text_model(tmp_path / "tiny-llama")
    target = {"model": f"hf/{model}", "name": "tiny", "params": {"max_new_tokens": 6}}
    one = offline_config(tmp_path / "one.sqlite", workers=1, targets=[target], limit=3)
    one = one.model_copy(update={"modalities": ["text"]})
    await run_evaluation(one)
    config = on_ray(one.model_copy(update={"store": tmp_path / "ray.sqlite"}), num_workers=1)
    assert actor_gpus(config) == 0  # on CPU: Ray is asked for no GPU
    summary = await run_evaluation(config)

    assert summary.counts == {"judged": 3}
    answers = answers_of(config.store_path())
    assert answers == answers_of(one.store_path())  # greedy decoding: the same words
    with RunStore(config.store_path()) as store:
        calls = [c for c in store.iter_calls() if c.model.startswith("hf/")]
    assert len(calls) == 3 and all(c.transport == "hf" for c in calls)


async def test_an_hf_target_on_cuda_gets_a_gpu_of_its_own(tmp_path: Path) -> None:
    # Where a GPU exists: Ray hides every GPU from an actor that asked for none
    # (CUDA_VISIBLE_DEVICES=""), so a model placed on cuda loads only on an actor given one.
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or ray.cluster_resources().get("GPU", 0) < 1:
        pytest.skip("no CUDA GPU in this cluster")
    from tests.agents.tiny_models import build_text_model

    model = build_text_model(tmp_path / "tiny-llama")
    target = {"model": f"hf/{model}", "name": "tiny", "params": {"device": "cuda"}}
    base = offline_config(tmp_path / "ray.sqlite", workers=1, targets=[target], limit=3)
    config = on_ray(base.model_copy(update={"modalities": ["text"]}), num_workers=1)
    assert actor_gpus(config) == 1
    summary = await run_evaluation(config)
    assert summary.counts == {"judged": 3}


async def test_a_call_is_in_the_store_before_the_actor_gets_it_back(tmp_path: Path) -> None:
    # The gateway awaits put_call_grouped before it returns a call's result: it must not
    # return before the driver's writer has committed the call (here held off by a lock).
    from kernel.records import ModelCall
    from safebench.run.executors.ray_store import RemoteStore, StoreWriter

    store = tmp_path / "run.sqlite"
    with RunStore(store) as opened:
        opened.open_run("r", "{}")
    writer = ray.remote(StoreWriter).options(num_cpus=0).remote(str(store), os.getpid())
    remote = RemoteStore(writer, store)
    call = ModelCall(key="ab" * 32, scope="s", model="m", request={}, status="ok", text="x")
    blocker = sqlite3.connect(store, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the store's write lock, held by the test
        recording = asyncio.create_task(remote.put_call_grouped(call))
        await asyncio.sleep(0.5)
        assert not recording.done(), "returned before the call was committed"
        blocker.execute("ROLLBACK")
        await asyncio.wait_for(recording, 60)
    finally:
        blocker.close()
    with RunStore(store) as opened:
        recorded = opened.get_call(call.key)
    assert recorded is not None and recorded.text == "x"
    assert remote.get_call(call.key) == recorded  # its own call: asked of the writer
    ray.kill(writer)


def test_the_store_writer_ends_with_the_driver(tmp_path: Path) -> None:
    # Ray ends a dead driver's actors seconds later; the writer must not write meanwhile (the
    # driver's writer lock is gone with it, and a rerun may hold it already).
    from kernel.records import ModelCall
    from safebench.run.executors.ray_store import StoreWriter

    store = tmp_path / "run.sqlite"
    with RunStore(store) as opened:
        opened.open_run("r", "{}")
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        writer = ray.remote(StoreWriter).options(num_cpus=0).remote(str(store), driver.pid)
        assert ray.get(writer.run_salt.remote(), timeout=60)
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 60  # a bound for a busy machine, not a speed
    with pytest.raises(ray.exceptions.RayActorError):
        while time.monotonic() < deadline:
            ray.get(writer.run_salt.remote(), timeout=60)
            time.sleep(0.1)
    call = ModelCall(key="k", scope="s", model="m", request={}, status="ok", text="late")
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(writer.put_call.remote(call), timeout=60)
    with RunStore(store) as opened:
        assert opened.get_call("k") is None


def test_a_local_model_on_cuda_asks_ray_for_a_gpu_per_actor(tmp_path: Path) -> None:
    def with_targets(*extra: dict[str, Any]) -> RunConfig:
        base = offline_config(tmp_path / "x.sqlite", workers=1)
        targets = [t.model_dump() for t in base.targets] + list(extra)
        return on_ray(RunConfig.model_validate({**base.model_dump(), "targets": targets}))

    cuda = {"model": "hf/some/model", "name": "local", "params": {"device": "cuda"}}
    mapped = {"model": "hf/other", "name": "mapped", "params": {"device_map": "auto"}}
    on_cpu = {"model": "hf/small", "name": "small", "params": {"device": "cpu"}}
    assert actor_gpus(with_targets()) == 0
    assert actor_gpus(with_targets(on_cpu)) == 0
    assert actor_gpus(with_targets(cuda)) == 1
    assert actor_gpus(with_targets(mapped)) == 1
    explicit = on_ray(offline_config(tmp_path / "x.sqlite", workers=1), num_gpus_per_worker=0.5)
    assert actor_gpus(explicit) == 0.5


async def test_actors_asking_more_than_the_cluster_has_are_a_config_error(tmp_path: Path) -> None:
    # Ray would leave such actors pending for ever; the run says why instead.
    config = on_ray(offline_config(tmp_path / "run.sqlite", workers=1), num_gpus_per_worker=1)
    with pytest.raises(ConfigError, match=r"ray\.num_gpus_per_worker"):
        await run_evaluation(config)


async def test_a_ray_client_address_is_refused_before_the_store(tmp_path: Path) -> None:
    store = tmp_path / "run.sqlite"
    config = on_ray(offline_config(store, workers=1), address="ray://head:10001")
    with pytest.raises(ConfigError, match="Ray Client driver runs no actor on this machine"):
        await run_evaluation(config)
    assert not store.exists()


def test_ray_with_workers_is_refused(tmp_path: Path) -> None:
    config = offline_config(tmp_path / "x.sqlite", workers=2).model_dump()
    with pytest.raises(ValueError, match=r"executor: ray shards the cases over ray\.num_workers"):
        RunConfig.model_validate({**config, "executor": "ray"})


BLOCK_RAY = """
import asyncio, importlib.abc, json, sys
from pathlib import Path

class NoRay(importlib.abc.MetaPathFinder):
    # As if the safebench[ray] extra were not installed.
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoRay())
from kernel.errors import ConfigError
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation

config = RunConfig.model_validate(json.loads(sys.argv[1]))
try:
    asyncio.run(run_evaluation(config))
except ConfigError as exc:
    print(exc)
    sys.exit(3)
"""


def test_without_ray_installed_executor_ray_is_a_config_error(tmp_path: Path) -> None:
    store = tmp_path / "run.sqlite"
    config = on_ray(offline_config(store, workers=1)).model_dump_json()
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_RAY, config],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert "pip install 'safebench[ray]'" in done.stdout
    assert not store.exists()  # refused before the store (or its lock) was touched
    assert json.loads(config)["executor"] == "ray"
