"""``ogo-syncd worker``: one member of the fleet.

Serves every store of every config it was given (all workers get the same configs):
defers due runs, runs whichever job procrastinate hands it, puts dead workers' jobs back
in the queue, and answers webhooks by deferring the matching job. SIGTERM/SIGINT: stop
taking jobs, let running flows finish their in-flight writes (``shutdown_grace_seconds``),
leave the queue to the others, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Iterable
from contextlib import AsyncExitStack
from typing import Any

import structlog
from procrastinate import App, JobContext
from procrastinate.worker import Worker

from syncd import flows
from syncd.config import Config, StoreConfig
from syncd.connector import StoreConnector
from syncd.engine import Engine
from syncd.errors import ConfigError
from syncd.fleet.configs import require_postgres
from syncd.fleet.queue import (
    QUEUE,
    TASK,
    Deferrer,
    Scheduled,
    apply_schema,
    defer_run,
    delete_old_jobs,
    make_app,
    requeue_stalled,
)
from syncd.jobs.base import FlowResult
from syncd.metrics import Metrics
from syncd.notify import Notifier, watchdog_loop
from syncd.state.db import StateDB
from syncd.state.owners import claim_config_stores

log = structlog.get_logger("syncd.fleet")
#: how often each worker drops old finished jobs (idempotent, so every worker may)
CLEANUP_EVERY_S = 600.0


def migrate(configs: list[Config]) -> None:
    """Our alembic migrations and procrastinate's schema, on the fleet's database."""
    db = require_postgres(configs[0])
    try:
        db.migrate()
        apply_schema(db)
    finally:
        db.dispose()


class Engines:
    """The engines of several merchants seen as one (store names are unique across them)."""

    def __init__(self, engines: Iterable[Engine]) -> None:
        self.engines = list(engines)
        self.by_store = {name: e for e in self.engines for name in e.stores}
        self.config = self.engines[0].config     # webhook key: the first file's (docs)

    @property
    def stores(self) -> dict[str, StoreConfig]:
        return {name: e.stores[name] for name, e in self.by_store.items()}

    @property
    def connectors(self) -> dict[str, StoreConnector]:
        return {name: e.connectors[name] for name, e in self.by_store.items()}

    @property
    def last_results(self) -> dict[tuple[str, str], FlowResult]:
        return {k: v for e in self.engines for k, v in e.last_results.items()}

    def supports(self, store: str, flow: str) -> bool:
        return self.by_store[store].supports(store, flow)

    async def run_flow(self, store: str, flow: str, **options: Any) -> FlowResult:
        return await self.by_store[store].run_flow(store, flow, **options)

    def scheduled(self) -> list[Scheduled]:
        out = []
        for name, engine in self.by_store.items():
            for flow in flows.NAMES:
                interval = getattr(engine.stores[name].schedule, flow)
                if interval is not None and engine.supports(name, flow):
                    out.append(Scheduled(name, flow, interval.total_seconds()))
        return out


class FleetWorker:
    """One worker process; ``await FleetWorker(configs).run()``."""

    def __init__(self, configs: list[Config], *, notifier: Notifier | None = None) -> None:
        if not configs:
            raise ConfigError("no config given", key="--config")
        self.configs = configs
        self.settings = configs[0].daemon
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.notifier = notifier or Notifier.from_env()
        self.stop_event = asyncio.Event()
        self.ready = asyncio.Event()
        self.started = False
        self.cycles = 0
        self.metrics = Metrics()
        self.engines: Engines | None = None
        self.app: App | None = None
        self.worker: Worker | None = None
        self.fenced = False        # the others took us for dead (see ``_fence_loop``)

    def request_stop(self) -> None:
        self.stop_event.set()

    @property
    def concurrency(self) -> int:
        """Jobs at once: flows wait on the network, so many; env override for benchmarks."""
        return int(os.environ.get("OGO_SYNCD_WORKER_CONCURRENCY", "16"))

    def _counted(self, result: FlowResult) -> None:
        self.cycles += 1

    async def run_job(self, context: JobContext, store: str, flow: str,
                      trigger: str = "schedule", timestamp: int | None = None) -> None:
        """The procrastinate task: one run of one flow (its outcome is in ``job_run``)."""
        assert self.engines is not None and self.worker is not None
        engine = self.engines.by_store.get(store)
        if engine is None:      # a config change not on every worker yet
            raise ConfigError(f"this worker has no store {store!r}", key="stores.name")
        engine.worker = f"{self.name}#{self.worker.worker_id}"
        await engine.run_flow(store, flow)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        if self.settings.log_level != "debug":
            logging.getLogger("procrastinate").setLevel(logging.WARNING)
        db = require_postgres(self.configs[0])
        db.migrate()
        await asyncio.to_thread(apply_schema, db)
        for config in self.configs:
            claim_config_stores(db, config)
        timeout = self.settings.worker_timeout_seconds
        with db.daemon_lock(shared=True):
            async with AsyncExitStack() as stack:
                engines = [await stack.enter_async_context(Engine(c, db)) for c in self.configs]
                for engine in engines:
                    engine.on_result.append(self._counted)
                    engine.on_result.append(self.metrics.record_flow_result)
                self.engines = Engines(engines)
                self.app = app = make_app(db, max_connections=min(self.concurrency, 8) + 2)
                app.task(name=TASK, queue=QUEUE, pass_context=True)(self.run_job)
                await stack.enter_async_context(app.open_async())
                self.worker = Worker(
                    app, queues=[QUEUE], name=self.name, concurrency=self.concurrency,
                    install_signal_handlers=False, update_heartbeat_interval=timeout / 3,
                    stalled_worker_timeout=timeout,
                    shutdown_graceful_timeout=self.settings.shutdown_grace_seconds,
                    fetch_job_polling_interval=2.0)
                return await self._serve(app, self.engines, db, stalled_after=timeout)

    async def _serve(self, app: App, engines: Engines, db: StateDB, *,
                     stalled_after: float) -> int:
        assert self.worker is not None
        worker_task = asyncio.create_task(self.worker.run(), name="procrastinate worker")
        deferrer = Deferrer(app, engines.scheduled())
        side = [asyncio.create_task(self._defer_loop(deferrer), name="deferrer"),
                asyncio.create_task(self._requeue_loop(app, db, stalled_after), name="requeue"),
                asyncio.create_task(self._fence_loop(app, engines, stalled_after / 3),
                                    name="fence"),
                asyncio.create_task(watchdog_loop(self.notifier), name="watchdog")]
        web = await self._start_web(app, engines)
        self.started = True
        self.ready.set()
        self.notifier.ready()
        log.info("worker_started", worker=self.name, stores=len(engines.by_store),
                 merchants=len(engines.engines), scheduled=len(deferrer.scheduled))
        stop = asyncio.create_task(self.stop_event.wait())
        await asyncio.wait([stop, worker_task], return_when=asyncio.FIRST_COMPLETED)
        log.info("worker_stopping", worker=self.name)
        self.notifier.stopping()
        for task in side:
            task.cancel()
        for engine in engines.engines:      # running flows start no new writes
            engine.stopping.set()
        self.worker.stop()                  # no new jobs; waits for the running ones
        with contextlib.suppress(asyncio.CancelledError):
            await worker_task
        stop.cancel()
        for task in side:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if web is not None:
            await web.stop()
        log.info("worker_stopped", worker=self.name, runs=self.cycles)
        if self.fenced or not self.stop_event.is_set():   # not asked to stop: restart us
            log.error("worker_exits_for_restart", worker=self.name, fenced=self.fenced)
            return 75
        return 0

    async def _defer_loop(self, deferrer: Deferrer) -> None:
        while True:
            try:
                wait = await deferrer.tick()
            except Exception as exc:     # the database is away: try again soon
                log.warning("fleet_defer_failed", error=f"{type(exc).__name__}: {exc}"[:300])
                wait = 2.0
            await asyncio.sleep(wait)

    async def _requeue_loop(self, app: App, db: StateDB, stalled_after: float) -> None:
        next_cleanup = 0.0
        while True:
            await asyncio.sleep(stalled_after / 3)
            try:
                await requeue_stalled(app, db, stalled_after)
                if time.monotonic() >= next_cleanup:
                    await delete_old_jobs(app)
                    next_cleanup = time.monotonic() + CLEANUP_EVERY_S
            except Exception as exc:
                log.warning("fleet_requeue_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def _fence_loop(self, app: App, engines: Engines, every: float) -> None:
        """Stop writing once the others took us for dead (our worker row was pruned after
        a heartbeat gap, e.g. a frozen VM): they requeue our jobs, so carrying on would run
        those flows twice at once. Exit 75 afterwards, for systemd to start a fresh worker.
        """
        assert self.worker is not None
        while True:
            await asyncio.sleep(every)
            worker_id = self.worker.worker_id
            if worker_id is None:
                continue
            try:
                row = await app.connector.execute_query_one_async(
                    query="SELECT count(*) AS n FROM procrastinate_workers WHERE id = %(id)s",
                    id=worker_id)
            except Exception:       # database away: procrastinate's heartbeat stops us
                continue
            if not row["n"]:
                log.error("worker_declared_dead", worker=self.name, worker_id=worker_id)
                self.fenced = True
                for engine in engines.engines:
                    engine.stopping.set()
                self.request_stop()
                return

    async def _start_web(self, app: App, engines: Engines) -> Any:
        listen = self.settings.http_listen
        if not listen:
            return None
        from syncd.webhooks import start_http_surface

        async def trigger(store: str, flow: str) -> None:
            await defer_run(app, store, flow, trigger="webhook")

        return await start_http_surface(self, engines, listen, trigger=trigger)
