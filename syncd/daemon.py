"""The long-running daemon: scheduler wiring, signals, systemd notify, optional HTTP surface.

One APScheduler interval job per (store, flow) with jitter, ``max_instances=1`` and
``coalesce``. SIGTERM/SIGINT stop new work, let in-flight writes finish, then exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from syncd.config import Config
from syncd.engine import Engine
from syncd.errors import ConfigError
from syncd.jobs.base import FLOWS, FlowResult
from syncd.metrics import Metrics
from syncd.notify import Notifier, watchdog_loop
from syncd.state.db import StateDB
from syncd.state.owners import claim_config_stores

log = structlog.get_logger("syncd.daemon")
#: runs are staggered at start-up so one store's four flows don't all hit at once
START_STAGGER = timedelta(seconds=1)


def _jitter(interval: timedelta) -> int:
    return int(min(max(interval.total_seconds() * 0.1, 0), 30))


class Daemon:
    def __init__(self, config: Config, db: StateDB, *, notifier: Notifier | None = None) -> None:
        self.config = config
        self.db = db
        self.notifier = notifier or Notifier.from_env()
        self.stop_event = asyncio.Event()
        self.engine: Engine | None = None
        self.cycles = 0
        self.started = False
        self.ready = asyncio.Event()   # set once the engine exists and jobs are scheduled
        self.metrics = Metrics()

    def request_stop(self) -> None:
        self.stop_event.set()

    def _status(self, result: FlowResult) -> None:
        self.cycles += 1
        counts = " ".join(f"{k}={v}" for k, v in sorted(result.counts.items()))
        state = "ok" if result.ok else f"FAILED ({result.error})"
        self.notifier.status(f"{result.store}/{result.flow}: {state} {counts}".strip())

    def schedule(self, scheduler: AsyncIOScheduler, engine: Engine) -> int:
        jobs = 0
        start = datetime.now(UTC)
        stagger = self._stagger(engine)
        for store in engine.stores.values():
            for flow in FLOWS:
                interval: timedelta | None = getattr(store.schedule, flow)
                if interval is None or not engine.supports(store.name, flow):
                    continue
                scheduler.add_job(
                    engine.run_flow, "interval", args=(store.name, flow),
                    seconds=interval.total_seconds(), jitter=_jitter(interval),
                    id=f"{store.name}:{flow}", name=f"{store.name}:{flow}",
                    max_instances=1, coalesce=True, misfire_grace_time=None,
                    next_run_time=start + stagger * jobs,
                )
                jobs += 1
        return jobs

    def _stagger(self, engine: Engine) -> timedelta:
        """Spread the first runs, but finish the first cycle within the shortest interval."""
        intervals = [i for store in engine.stores.values() for flow in FLOWS
                     if (i := getattr(store.schedule, flow)) is not None]
        if not intervals:
            return START_STAGGER
        return min(START_STAGGER, min(intervals) / len(intervals))

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        self.db.migrate()
        claim_config_stores(self.db, self.config)   # shared PostgreSQL: store names per merchant
        with self.db.daemon_lock():
            async with Engine(self.config, self.db) as engine:
                self.engine = engine
                engine.on_result.append(self._status)
                self.metrics.attach(engine)   # results, myOGO retries/errors, cursor lag
                for check in await engine.check():
                    (log.info if check.ok else log.warning)(
                        "startup_check", what=check.what, ok=check.ok, message=check.message)
                web = await self._start_web(engine)   # a busy port stops us before any run
                scheduler = AsyncIOScheduler(timezone=UTC)
                jobs = self.schedule(scheduler, engine)
                scheduler.start()
                watchdog = asyncio.create_task(watchdog_loop(self.notifier))
                self.started = True
                self.ready.set()
                self.notifier.ready()
                self.notifier.status(f"running {jobs} jobs for {len(engine.stores)} stores")
                log.info("daemon_started", jobs=jobs, stores=len(engine.stores))
                await self.stop_event.wait()
                log.info("daemon_stopping")
                self.notifier.stopping()
                # Pause first: APScheduler's shutdown cancels running coroutine jobs, and
                # in-flight writes must finish (their intents are already committed).
                scheduler.pause()
                drained = await engine.drain(self.config.daemon.shutdown_grace_seconds)
                scheduler.shutdown(wait=False)
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
                if web is not None:
                    await web.stop()
                log.info("daemon_stopped", drained=drained)
        return 0

    async def _start_web(self, engine: Engine) -> Any:
        listen = self.config.daemon.http_listen
        if not listen:
            return None
        from syncd.webhooks import start_http_surface

        try:
            return await start_http_surface(self, engine, listen)
        except OSError as exc:   # port in use, address not on this host, no permission
            raise ConfigError(f"cannot listen on {listen}: {exc.strerror or exc}",
                              key="daemon.http_listen") from None
