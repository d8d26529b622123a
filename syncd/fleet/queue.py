"""procrastinate wiring: the app, its schema, deferring runs and putting stalled ones back.

Everything the fleet asks of PostgreSQL beyond our own tables goes through procrastinate:
jobs (``procrastinate_jobs``), their locks, the periodic-defer dedup table, the worker
heartbeats. Our code only decides *what* to defer and *when*.
"""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from procrastinate import App, PsycopgConnector, exceptions
from procrastinate.schema import SchemaManager
from sqlalchemy import make_url, text
from sqlalchemy.exc import IntegrityError

from syncd.state.db import StateDB, advisory_key

log = structlog.get_logger("syncd.fleet")

TASK = "ogo_syncd.run_flow"
QUEUE = "ogo_syncd"
#: finished jobs are kept this long (``ogo-syncd status`` history is in ``job_run``)
JOB_RETENTION_HOURS = 24
#: serialises applying procrastinate's schema when several workers start at once
_SCHEMA_LOCK_KEY = advisory_key("ogo-syncd:procrastinate-schema")


def job_lock(store: str, flow: str) -> str:
    """The ``lock`` and ``queueing_lock`` of one (store, flow)'s jobs."""
    return f"{store}:{flow}"


def conninfo(db: StateDB) -> str:
    """The libpq URL of the state database (SQLAlchemy's ``postgresql+psycopg://`` form
    without the driver part)."""
    url = make_url(db.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_app(db: StateDB, *, max_connections: int = 6) -> App:
    """A procrastinate app on the state database (not opened yet)."""
    connector = PsycopgConnector(conninfo=conninfo(db), min_size=1, max_size=max_connections,
                                 kwargs={"application_name": "ogo-syncd-worker"})
    return App(connector=connector)


def apply_schema(db: StateDB) -> bool:
    """Create procrastinate's tables and functions unless they exist; True when created.

    Under a transaction-scoped advisory lock, so workers starting together apply it once.
    Upgrading procrastinate across a schema change needs its migrations (docs/scaling.md).
    """
    with psycopg.connect(conninfo(db)) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK_KEY])
        row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if row is not None and row[0] is not None:
            return False
        conn.execute(SchemaManager.get_schema())
    log.info("fleet_schema_applied")
    return True


def _job(app: App, store: str, flow: str, **kwargs: Any) -> Any:
    lock = job_lock(store, flow)
    return app.configure_task(TASK, queue=QUEUE, lock=lock, queueing_lock=lock,
                              task_kwargs={"store": store, "flow": flow, **kwargs})


async def defer_run(app: App, store: str, flow: str, trigger: str) -> int | None:
    """Queue one run now (a webhook); None when one is already waiting (it will do)."""
    try:
        return int(await _job(app, store, flow, trigger=trigger).defer_async())
    except exceptions.AlreadyEnqueued:
        return None


@dataclass(frozen=True)
class Scheduled:
    """One (store, flow) with its interval; ``phase`` spreads the flows over the interval."""

    store: str
    flow: str
    interval: float

    @property
    def phase(self) -> float:
        return zlib.crc32(job_lock(self.store, self.flow).encode()) % max(int(self.interval), 1)

    def slot(self, now: float) -> int:
        """The start (epoch s) of the interval ``now`` is in: the periodic defer key."""
        return int(math.floor((now - self.phase) / self.interval) * self.interval + self.phase)


class Deferrer:
    """Each worker runs one; together they defer each (store, flow) once per interval.

    Like procrastinate's own periodic deferrer (which takes cron lines, minute-granular
    for our intervals), but on intervals: the slot start is the ``defer_timestamp`` of
    ``defer_periodic_job``, whose unique row makes every worker but the first a no-op.
    A slot whose job finds one still waiting (queueing lock) is skipped: runs coalesce.
    Only the current slot is ever deferred, never one missed while a worker was away.
    Workers' clocks should agree (NTP): with a skew near a slot boundary, a slot can be
    deferred again after its row was replaced, which costs one extra run (never at the
    same time as another: the job lock).
    """

    def __init__(self, app: App, scheduled: Iterable[Scheduled]) -> None:
        self.app = app
        self.scheduled = list(scheduled)
        self.last: dict[Scheduled, int] = {}
        self.deferred = 0

    async def tick(self, now: float | None = None) -> float:
        """Defer what is due; the seconds until the next slot starts.

        The clock is read afresh for each item: a tick over hundreds of items on a busy
        database can take seconds, and the slot deferred must be the one current then (a
        past slot's defer row may already be replaced by the next slot's: procrastinate
        keeps only the newest per periodic id, so it would be deferred again).
        """
        for item in self.scheduled:
            slot = item.slot(time.time() if now is None else now)
            if self.last.get(item) == slot:
                continue
            deferrer = _job(self.app, item.store, item.flow, trigger="schedule", timestamp=slot)
            try:
                job_id = await deferrer.job_manager.defer_periodic_job(
                    job=deferrer.job, periodic_id=job_lock(item.store, item.flow),
                    defer_timestamp=slot)
            except exceptions.AlreadyEnqueued:
                job_id = None
            self.last[item] = slot
            self.deferred += job_id is not None
        if not self.scheduled:
            return 60.0
        at = time.time() if now is None else now
        return max(0.05, min(s.slot(at) + s.interval - at for s in self.scheduled))


async def requeue_stalled(app: App, db: StateDB, seconds_since_heartbeat: float) -> list[int]:
    """Put the running jobs of workers silent for that long back in the queue.

    procrastinate finds them (``get_stalled_jobs``: jobs ``doing`` whose worker's heartbeat
    is stale or whose worker row was pruned); each is then retried (``retry_job``'s SQL
    function), which frees its lock, but only while it is still stalled: checked under a
    row lock in the same transaction, because every worker runs this and a job another
    worker already requeued may be running again on a live worker by now. When a run of
    the same (store, flow) is already waiting, the stalled job is closed as failed instead
    (the waiting one does the work).
    """
    manager = app.job_manager
    await manager.prune_stalled_workers(seconds_since_heartbeat)
    done: list[int] = []
    for job in await manager.get_stalled_jobs(task_name=TASK,
                                              seconds_since_heartbeat=seconds_since_heartbeat):
        assert job.id is not None
        outcome = await asyncio.to_thread(requeue_if_stalled, db, job.id, seconds_since_heartbeat)
        if outcome is not None:
            done.append(job.id)
            log.warning("fleet_job_requeued", job_id=job.id, lock=job.lock, outcome=outcome)
    return done


_LOCK_IF_STALLED = text("""
    SELECT j.id FROM procrastinate_jobs j
     WHERE j.id = :id AND j.status = 'doing'
       AND (j.worker_id IS NULL OR j.worker_id IN (
            SELECT w.id FROM procrastinate_workers w
             WHERE w.last_heartbeat < now() - :seconds * interval '1 second'))
       FOR UPDATE OF j
""")
_RETRY = text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)")
_CLOSE = text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)")


def requeue_if_stalled(db: StateDB, job_id: int, seconds: float) -> str | None:
    """"requeued", "closed" (one already waits), or None (no longer stalled)."""
    for statement, outcome in ((_RETRY, "requeued"), (_CLOSE, "closed")):
        try:
            with db.engine.begin() as conn:
                if conn.execute(_LOCK_IF_STALLED, {"id": job_id, "seconds": seconds}
                                ).first() is None:
                    return None
                conn.execute(statement, {"id": job_id})
                return outcome
        except IntegrityError:      # the queueing lock: a run of that flow already waits
            continue
    return None


#: like procrastinate's ``delete_old_jobs``, but leaves the job a periodic-defer row still
#: points at (the newest of each (store, flow): a foreign key without ON DELETE)
_DELETE_OLD = """
    DELETE FROM procrastinate_jobs job
     WHERE job.queue_name = %(queue)s
       AND job.status IN ('succeeded', 'failed', 'aborted', 'cancelled')
       AND NOT EXISTS (SELECT 1 FROM procrastinate_periodic_defers d WHERE d.job_id = job.id)
       AND NOT EXISTS (SELECT 1 FROM procrastinate_events e WHERE e.job_id = job.id
                        AND e.at > now() - %(hours)s * interval '1 hour')
"""


async def delete_old_jobs(app: App, hours: float = JOB_RETENTION_HOURS) -> None:
    """Keep ``procrastinate_jobs`` from growing: drop finished jobs older than ``hours``."""
    await app.connector.execute_query_async(query=_DELETE_OLD, queue=QUEUE, hours=hours)
