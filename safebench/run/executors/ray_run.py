"""``executor: ray``: the run's cases on Ray actors, across the machines of a cluster.

The driver (this process) opens and closes the run as every executor's run is
(``safebench.run.pipeline.conduct_run``): it takes the store's writer lock, opens the run,
attacks the dataset, shares out the budget, draws the progress bar, checks the run's failure
rate and writes the summary. It starts, on its own node, the :class:`StoreWriter` actor that
owns the run's store, then ``ray.num_workers`` case actors wherever Ray places them. Each case
actor owns its gateway, targets, jury and offline stack, runs the cases whose id hashes to it
(``safebench.run.workers.run_shard``, the same code as a worker process) and writes every model
call and every case through the store writer before going on.

An actor whose models include a local ``hf/…`` model on CUDA asks Ray for a GPU
(:func:`actor_gpus`), so a cluster of GPU nodes evaluates local models in parallel. Actors are
owned by the driver: when it dies, Ray ends them and the store writer with it.

Every node must see the dataset at the driver's path (a shared filesystem) and have
SafeBench installed (``pip install 'safebench[ray]'``), as Ray runs the same code there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import structlog

from agents.budget import SpendLimit
from agents.spec import ModelSpec
from kernel.errors import ClusterUnavailable, ConfigError, SafeBenchError
from kernel.logs import configure_logging
from safebench.run.cases import NoProgress, Progress
from safebench.run.config import RayConfig, RunConfig
from safebench.run.executors.ray_store import RemoteStore, StoreWriter
from safebench.run.session import model_session
from safebench.run.workers import (
    Supervise,
    WorkerReport,
    check_failure_rate,
    raise_for_report,
    run_reported,
    run_shard,
    worker_share,
)

log = structlog.get_logger(__name__)

_POLL_S = 0.2
"""How often the driver asks the store writer for finished cases while no actor ends."""
_LOCAL_MODELS = ("hf/", "hf-classifier/")
"""Models that run inside the actor's process (``agents/transports/hf.py``)."""
INSTALL_HINT = "pip install 'safebench[ray]'"


def require_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying what to install."""
    # Ray's core worker otherwise installs a C++ failure handler for SIGTERM in the driver,
    # replacing the run's own: a SIGTERM then aborted the run (exit 134, a stack dump, the
    # store left "running") instead of stopping it (status stopped, exit 143). Read by Ray
    # when it is first imported.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"executor: ray needs Ray, which is not installed here ({exc}): {INSTALL_HINT} "
            "(on every node of the cluster), or use executor: local"
        ) from None
    return ray


def ray_executor(config: RunConfig) -> tuple[Supervise, int]:
    """How ``config``'s cases run on Ray: the supervisor of ``config.ray.num_workers`` case
    actors, for the run's one lifecycle (``safebench.run.pipeline.conduct_run``)."""
    require_ray()  # before the lock and the dataset: a missing extra changes nothing
    if config.ray.address is not None and config.ray.address.startswith("ray://"):
        raise ConfigError(
            f"ray.address {config.ray.address}: a Ray Client driver runs no actor on this "
            "machine, where the run's store is; run safebench on a node of the cluster with "
            "ray.address: auto (or the head's host:port)"
        )
    return _supervise_on_ray, config.ray.num_workers


def actor_gpus(config: RunConfig) -> float:
    """GPUs each case actor asks Ray for: ``ray.num_gpus_per_worker`` when set, else 1 when
    a local model of the run (target, juror or foreperson) is placed on CUDA, else 0."""
    if config.ray.num_gpus_per_worker is not None:
        return config.ray.num_gpus_per_worker
    jury = config.jury
    specs: list[ModelSpec] = [*config.targets, *jury.jurors]
    if jury.foreperson is not None:
        specs.append(jury.foreperson)
    return 1.0 if any(_on_cuda(spec) for spec in specs) else 0.0


def _on_cuda(spec: ModelSpec) -> bool:
    if not spec.model.startswith(_LOCAL_MODELS):
        return False
    device = str(spec.params.get("device", "cpu"))
    return device.startswith("cuda") or spec.params.get("device_map") is not None


def actor_name(config: RunConfig, session: str, index: int) -> str:
    """The Ray name of case actor ``index`` of one session of ``config``'s run (to find it:
    ``ray list actors``, tests). The session's own tag keeps a resume started at once from
    colliding with the names of the stopped session's actors, which Ray frees when they end."""
    return f"safebench:{config.store_path().resolve()}:{session}:worker-{index}"


class ShardActor:
    """A case actor: one shard of the cases, on its own event loop, gateway and targets."""

    def ready(self) -> bool:
        """Answered once Ray has placed and started the actor (the driver waits for it)."""
        return True

    def run(
        self,
        config: RunConfig,
        dataset_root: str,
        shard: tuple[int, int],
        spend: SpendLimit | None,
        writer: Any,
        verbose: bool,
    ) -> dict[str, Any]:
        configure_logging(verbose)
        index = shard[0]
        root = Path(dataset_root)
        if not (root / "queries.jsonl").is_file():
            import socket

            report = WorkerReport(
                index,
                "crashed",
                error=f"dataset {root} is not on node {socket.gethostname()}: every node needs "
                "the dataset at the driver's path (a shared filesystem)",
            )
        else:
            report = run_reported(index, _run_actor_shard(config, root, shard, spend, writer))
        return dataclasses.asdict(report)


async def _run_actor_shard(
    config: RunConfig,
    dataset_root: Path,
    shard: tuple[int, int],
    spend: SpendLimit | None,
    writer: Any,
) -> WorkerReport:
    share = worker_share(config, shard[1])
    store = RemoteStore(writer, config.store_path())
    # No store opened here: the gateway caches in (and records through) the driver's writer.
    async with model_session(share.gateway, None, cache=store, spend=spend) as session:
        return await run_shard(share, dataset_root, shard, store, session.gateway, NoProgress())


async def _supervise_on_ray(
    config: RunConfig,
    dataset_root: Path,
    progress: Progress,
    spends: list[SpendLimit | None],
) -> list[WorkerReport]:
    ray = require_ray()
    started_here = _connect(ray, config.ray)
    writer: Any = None
    actors: list[Any] = []
    try:
        writer = _start_writer(ray, config)
        actors = _start_actors(ray, config, len(spends))
        await _wait_placed(ray, config, actors)
        verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
        runs = {
            actor.run.remote(
                config,
                # Absolute: an actor's working folder is not the driver's (abspath reads
                # only the process's own cwd: nothing to wait for).
                str(os.path.abspath(dataset_root)),  # noqa: ASYNC240
                (index, len(spends)),
                spends[index],
                writer,
                verbose,
            ): index
            for index, actor in enumerate(actors)
        }
        return await _wait(ray, config, runs, writer, progress)
    finally:
        # Each case is one transaction: a stopped actor loses only its cases in flight. The
        # writer closes its store before the driver lets go of the writer lock.
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if writer is not None:
            # A writer already gone (its node lost) must not hide why the run stopped.
            with contextlib.suppress(ray.exceptions.RayError):
                ray.get(writer.close.remote())
            ray.kill(writer, no_restart=True)
        if started_here:
            ray.shutdown()


def _connect(ray: Any, settings: RayConfig) -> bool:
    """Join the configured cluster (or start a local one); True when this call started it.

    A cluster that is not there is one line (ClusterUnavailable), not Ray's ConnectionError
    traceback (``auto`` with none running) nor minutes of Ray retrying a ``host:port`` where
    nothing listens: that address is tried first, bounded by ``ray.start_timeout_s``."""
    if ray.is_initialized():
        return False
    if settings.address is not None and settings.address != "auto":
        _check_reachable(settings.address, min(settings.start_timeout_s, 10.0))
    options: dict[str, Any] = {}
    if settings.address is None:
        # A cluster started here runs this run's actors only: at Ray's default niceness (15)
        # they would yield the CPU to anything else on the machine, the driver included, and
        # a busy machine starved them (a 2-core CI machine under load took minutes a case).
        options["_system_config"] = {"worker_niceness": 0}
    # ray.init sets a SIGTERM handler of its own in the driver (sys.exit(15)), over the one
    # the command installed to stop the run cleanly (status stopped, exit 143, a line saying
    # how to resume): the command's is put back.
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(
            address=settings.address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            **options,
        )
    except (OSError, TimeoutError) as exc:  # ConnectionError is an OSError
        raise ClusterUnavailable(
            f"ray.address {settings.address or '(a local cluster)'}: cannot join the Ray "
            f"cluster ({' '.join(str(exc).split())}); start it (`ray start --head`), fix "
            "ray.address, or use executor: local"
        ) from None
    finally:
        if on_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)
    return True


def _check_reachable(address: str, timeout_s: float) -> None:
    """A TCP connection to the cluster's ``host:port`` (its GCS), or ClusterUnavailable."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ClusterUnavailable(
            f"ray.address {address}: no Ray cluster answers there ({exc}); start one "
            "(`ray start --head`) or fix ray.address (the head's host:port, or auto)"
        ) from None


def _placement_hint(ray: Any, config: RunConfig, workers: int) -> str:
    settings = config.ray
    try:
        cluster = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
    except Exception:  # the hint only; the cluster may be going away
        cluster = {}
    return (
        f"the cluster has {cluster or 'no resources reported'}, {workers} actors asking "
        f"{settings.num_cpus_per_worker:g} CPU and {actor_gpus(config):g} GPU each"
        + (f" and {settings.resources}" if settings.resources else "")
        + "; lower ray.num_workers or ray.num_cpus_per_worker, add nodes, or raise "
        "ray.start_timeout_s"
    )


def _start_writer(ray: Any, config: RunConfig) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    writer = (
        ray.remote(StoreWriter)
        .options(
            num_cpus=0,  # mostly waits on SQLite; must never wait for a free CPU
            max_concurrency=1,
            max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False),
        )
        .remote(str(config.store_path().resolve()), os.getpid())
    )
    try:
        # Opened and readable before any actor starts; bounded, as a writer Ray cannot place
        # (no CPU free for it on this node) would otherwise be waited for for ever.
        ray.get(writer.run_salt.remote(), timeout=config.ray.start_timeout_s)
    except ray.exceptions.GetTimeoutError:
        ray.kill(writer, no_restart=True)
        raise ClusterUnavailable(
            f"ray: the store writer did not start on this node within "
            f"{config.ray.start_timeout_s:g}s (ray.start_timeout_s); is the cluster busy?"
        ) from None
    return writer


def _start_actors(ray: Any, config: RunConfig, workers: int) -> list[Any]:
    settings = config.ray
    gpus = actor_gpus(config)
    wanted = {"CPU": settings.num_cpus_per_worker, "GPU": gpus, **settings.resources}
    cluster = ray.cluster_resources()
    missing = {k: v for k, v in wanted.items() if v > 0 and cluster.get(k, 0.0) < v}
    if missing:
        # Ray would leave such an actor pending for ever.
        raise ConfigError(
            f"ray: each actor asks for {missing}, more than the whole cluster has "
            f"({ {k: cluster.get(k, 0.0) for k in missing} }); set ray.num_cpus_per_worker, "
            "ray.num_gpus_per_worker or ray.resources, or add nodes"
        )
    actor = ray.remote(ShardActor)
    session = uuid.uuid4().hex[:8]
    actors = [
        actor.options(
            name=actor_name(config, session, index),
            num_cpus=settings.num_cpus_per_worker,
            num_gpus=gpus,
            resources=settings.resources or None,
            max_restarts=0,
        ).remote()
        for index in range(workers)
    ]
    return actors


async def _wait_placed(ray: Any, config: RunConfig, actors: list[Any]) -> None:
    """Every actor placed and started within ``ray.start_timeout_s``, or ClusterUnavailable.

    Each actor holds its CPUs until the run ends, so one Ray cannot place now (12 actors of
    1 CPU on 2 CPUs) used to wait for ever, after the others had finished their shards."""
    pings = [actor.ready.remote() for actor in actors]
    timeout = config.ray.start_timeout_s
    ready, _ = await asyncio.to_thread(ray.wait, pings, num_returns=len(pings), timeout=timeout)
    if len(ready) < len(pings):
        raise ClusterUnavailable(
            f"ray: only {len(ready)} of {len(actors)} actors could be placed within "
            f"{timeout:g}s (ray.start_timeout_s): " + _placement_hint(ray, config, len(actors))
        )


async def _wait(
    ray: Any,
    config: RunConfig,
    runs: dict[Any, int],
    writer: Any,
    progress: Progress,
) -> list[WorkerReport]:
    """Draw progress from the writer until every actor has reported; fail the run on an
    actor's abort, crash or death."""
    pending = list(runs)
    done: dict[int, WorkerReport] = {}
    counts = [0, 0]  # finished, failed
    started = time.monotonic()
    while pending:
        ready, pending = await asyncio.to_thread(ray.wait, pending, num_returns=1, timeout=_POLL_S)
        await _advance(ray, config, writer, progress, counts)
        for ref in ready:
            index = runs[ref]
            try:
                report = WorkerReport(**ray.get(ref))
            except ray.exceptions.RayError as exc:
                raise SafeBenchError(
                    f"ray worker {index} died ({type(exc).__name__}: {exc}); finished cases "
                    f"are in {config.store_path()}, rerun the same command to resume"
                ) from None
            done[index] = report
            raise_for_report(config, report)
    await _advance(ray, config, writer, progress, counts)
    log.debug("ray.run_done", workers=len(runs), wall_s=round(time.monotonic() - started, 2))
    return [done[i] for i in sorted(done)]


async def _advance(
    ray: Any, config: RunConfig, writer: Any, progress: Progress, counts: list[int]
) -> None:
    for status in await asyncio.to_thread(ray.get, writer.drain.remote()):
        progress.advance(status)
        counts[0] += 1
        counts[1] += status == "failed"
        check_failure_rate(config, counts[0], counts[1])
