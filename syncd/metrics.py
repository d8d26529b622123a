"""Prometheus metrics for the daemon, in a registry of its own.

A dedicated ``CollectorRegistry`` (not the process-global one) so several daemons or test
engines in one process never collide, and ``/metrics`` shows exactly what we define.
Label values are bounded: store names from the config, the four flows, a fixed set of
results, sides and error kinds (webhooks to a store name not in the config are counted
under ``source="unknown"``).

``attach(engine)`` wires a daemon's engine in: flow results, the myOGO client's retries
and errors as they happen (``ClientStats.listeners``), and the cursor lag.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from syncd import __version__

NAMESPACE = "ogo_syncd"
#: job durations: a quiet cycle takes well under a second, a full reconcile minutes
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
#: FlowResult.counts keys that mean "an item was written/confirmed on the other side"
SYNCED_COUNT_KEYS = ("sent", "adopted", "updated", "written", "shipped", "cancelled",
                     "cancelled_unsent", "restored")
#: FlowResult.counts keys that mean "an item failed this run and was parked"
FAILED_COUNT_KEYS = ("failed",)
SIDES = ("myogo", "store")
#: the webhook ``source`` label of a delivery to a store name that is not configured
UNKNOWN_SOURCE = "unknown"


class FlowResultLike(Protocol):
    """What :meth:`Metrics.record_flow_result` reads (``syncd.jobs.base.FlowResult``)."""

    store: str
    flow: str
    ok: bool
    duration: float
    counts: Mapping[str, int]


class Metrics:
    """All daemon metrics, bound to one registry (``metrics.registry`` feeds ``/metrics``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, ns = self.registry, NAMESPACE
        self.build_info = Gauge("build_info", "Constant 1, labelled with the version.",
                                ["version"], namespace=ns, registry=r)
        self.build_info.labels(version=__version__).set(1)
        self.job_runs = Counter("job_runs", "Flow runs by outcome (ok|failed).",
                                ["store", "flow", "result"], namespace=ns, registry=r)
        self.job_duration = Histogram("job_duration_seconds", "Wall time of one flow run.",
                                      ["store", "flow"], namespace=ns, registry=r,
                                      buckets=DURATION_BUCKETS)
        self.items_synced = Counter("items_synced", "Items written or confirmed remotely.",
                                    ["store", "flow"], namespace=ns, registry=r)
        self.items_failed = Counter("items_failed", "Items that failed and were parked.",
                                    ["store", "flow"], namespace=ns, registry=r)
        self.api_errors = Counter("api_errors", "Failed API calls by side and error kind "
                                  "(config|auth|transient|data|timeout|...).",
                                  ["side", "kind"], namespace=ns, registry=r)
        self.api_retries = Counter("api_retries", "API calls retried by side and reason.",
                                   ["side", "kind"], namespace=ns, registry=r)
        self.cursor_lag = Gauge("cursor_lag_seconds", "How far a flow's cursor is behind "
                                "now; grows when a flow is stuck.",
                                ["store", "flow"], namespace=ns, registry=r)
        self.last_success = Gauge("last_success_timestamp_seconds", "Unix time of the last "
                                  "successful run of a flow.",
                                  ["store", "flow"], namespace=ns, registry=r)
        self.webhooks = Counter("webhooks_received", "Webhook deliveries by source "
                                "(myogo, a configured store name or unknown) and result.",
                                ["source", "result"], namespace=ns, registry=r)
        #: (store, flow) -> Unix time up to which the flow last read its whole window
        self._caught_up: dict[tuple[str, str], float] = {}

    def attach(self, engine: Any) -> None:
        """Follow a running ``syncd.engine.Engine``: its flow results, its myOGO client's
        retries and errors, and (from the state DB) where each flow had caught up before
        this process started, so the lag of a flow stuck across restarts keeps growing."""
        engine.on_result.append(self.record_flow_result)
        engine.myogo.stats.listeners.append(self)
        for (store, flow), at in last_complete_runs(engine.db, list(engine.stores)).items():
            self._caught_up.setdefault((store, flow), at)
        self.refresh()

    def record_job_run(self, store: str, flow: str, *, ok: bool, duration: float,
                       synced: int = 0, failed: int = 0, finished_at: float | None = None
                       ) -> None:
        """Account for one finished flow run."""
        self.job_runs.labels(store=store, flow=flow, result="ok" if ok else "failed").inc()
        self.job_duration.labels(store=store, flow=flow).observe(max(duration, 0.0))
        if synced:
            self.items_synced.labels(store=store, flow=flow).inc(synced)
        if failed:
            self.items_failed.labels(store=store, flow=flow).inc(failed)
        if ok:
            when = finished_at if finished_at is not None else time.time()
            self.last_success.labels(store=store, flow=flow).set(when)

    def record_flow_result(self, result: FlowResultLike) -> None:
        """:meth:`record_job_run` from a ``FlowResult`` (counts mapped by the key lists).

        A successful run read its whole window (the cursor covers everything up to the
        run's start), so the flow's cursor lag restarts from that moment.
        """
        counts = result.counts
        if result.ok and not counts.get("skipped"):
            self._caught_up[(result.store, result.flow)] = time.time() - max(result.duration, 0)
            self.refresh()
        self.record_job_run(
            result.store, result.flow, ok=result.ok, duration=result.duration,
            synced=sum(int(counts.get(k, 0)) for k in SYNCED_COUNT_KEYS),
            failed=sum(int(counts.get(k, 0)) for k in FAILED_COUNT_KEYS),
        )

    def record_api_error(self, side: str, kind: str) -> None:
        self.api_errors.labels(side=_side(side), kind=kind).inc()

    def record_api_retry(self, side: str, kind: str) -> None:
        self.api_retries.labels(side=_side(side), kind=kind).inc()

    def refresh(self, now: float | None = None) -> None:
        """Bring the time-derived gauges up to ``now`` (called before each scrape)."""
        now = time.time() if now is None else now
        for (store, flow), at in self._caught_up.items():
            self.cursor_lag.labels(store=store, flow=flow).set(max(now - at, 0.0))

    def set_cursor_lag(self, store: str, flow: str, cursor: datetime | float | None,
                       now: datetime | None = None) -> None:
        """Lag from a cursor time (or seconds directly); None (no cursor yet) reads as 0."""
        if cursor is None:
            lag = 0.0
        elif isinstance(cursor, datetime):
            at = cursor if cursor.tzinfo else cursor.replace(tzinfo=UTC)
            lag = ((now or datetime.now(UTC)) - at).total_seconds()
        else:
            lag = float(cursor)
        self.cursor_lag.labels(store=store, flow=flow).set(max(lag, 0.0))

    def record_webhook(self, source: str, result: str) -> None:
        """result: accepted | unauthorized | too_large | unknown_store | error | disabled."""
        self.webhooks.labels(source=source, result=result).inc()

    def render(self) -> bytes:
        """The text exposition format for ``/metrics``."""
        self.refresh()
        return generate_latest(self.registry)


def _side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    return side


def last_complete_runs(db: Any, stores: list[str]) -> dict[tuple[str, str], float]:
    """(store, flow) -> Unix start time of the newest successful run in the state DB."""
    from sqlmodel import col, func, select

    from syncd.state.tables import JobRun

    if not stores:
        return {}
    with db.session() as session:
        rows = session.exec(
            select(JobRun.store, JobRun.job, func.max(JobRun.started_at))
            .where(col(JobRun.store).in_(stores), JobRun.ok == True)  # noqa: E712
            .group_by(JobRun.store, JobRun.job)).all()
    return {(store, flow): (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
            for store, flow, at in rows if at is not None}


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """(body, content type) of the text exposition of ``registry``."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
