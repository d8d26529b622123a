"""What every flow shares: its context, its result, bounded concurrency, run recording."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from syncd.connector import StoreConnector
from syncd.errors import ConfigError, DataError, TransientError
from syncd.model import Page
from syncd.state.tables import JobRun

if TYPE_CHECKING:
    from syncd.config import StoreConfig
    from syncd.myogo import MyogoClient
    from syncd.state.db import StateDB

T = TypeVar("T")
FLOWS = ("products", "orders", "stock", "tracking")


@dataclass
class FlowContext:
    """Everything one flow run for one store needs; built by the daemon or the CLI."""

    store: StoreConfig
    connector: StoreConnector
    myogo: MyogoClient
    db: StateDB
    concurrency: int = 8
    dry_run: bool = False
    full: bool = False                       # full reconcile instead of incremental
    force: bool = False                      # override the empty-source guard
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    plan: list[str] = field(default_factory=list)   # dry-run: what would be written
    only: set[str] | None = None             # webhook trigger: limit to these keys

    @property
    def name(self) -> str:
        return self.store.name

    def would(self, text: str) -> None:
        self.plan.append(text)


@dataclass
class FlowResult:
    store: str
    flow: str
    counts: Counter[str] = field(default_factory=Counter)
    ok: bool = True
    error: str | None = None
    duration: float = 0.0
    plan: list[str] = field(default_factory=list)


class IncompletePage(TransientError):
    """Some item's outcome is still unknown: keep the cursor so the page is read again."""


async def run_bounded(
    items: Iterable[T],
    work: Callable[[T], Awaitable[None]],
    limit: int,
    stopping: asyncio.Event,
) -> list[BaseException]:
    """Run ``work`` over items, at most ``limit`` at once; stop starting new ones on shutdown.

    Returns the exceptions raised (per-item data errors are handled inside ``work``).
    In-flight writes always finish: cancellation is never forced on them.
    """
    semaphore = asyncio.Semaphore(limit)
    errors: list[BaseException] = []
    skipped = False

    async def one(item: T) -> None:
        nonlocal skipped
        async with semaphore:
            if stopping.is_set():
                skipped = True
                return
            try:
                await work(item)
            except Exception as exc:  # collected, classified by the caller
                errors.append(exc)

    await asyncio.gather(*(one(item) for item in items))
    if skipped and not errors:
        errors.append(IncompletePage("shutting down before the page was finished"))
    return errors


def raise_first(errors: list[BaseException]) -> None:
    """Re-raise the most serious collected error: config, then transient, then others."""
    if not errors:
        return
    for kind in (ConfigError, TransientError):
        for exc in errors:
            if isinstance(exc, kind):
                raise exc
    raise errors[0]


def start_cursor(ctx: FlowContext, stream: str) -> str | None:
    """Where a connector stream resumes (None = from the start, also on ``--full``)."""
    from syncd.state.ops import get_cursor

    if ctx.full:
        return None
    with ctx.db.session() as session:
        return get_cursor(session, ctx.name, stream)


async def apply_pages(
    ctx: FlowContext,
    stream: str,
    pages: AsyncIterator[Page[T]],
    work: Callable[[T], Awaitable[None]],
    result: FlowResult | None = None,
) -> None:
    """Apply every item of each page (bounded concurrency), then save the page's cursor.

    The cursor is saved only when every item of the page is done or recorded as a failure;
    a transient or config error stops the run with the cursor where it was.
    """
    from syncd.state.ops import set_cursor

    async for page in pages:
        if result is not None:
            result.counts["seen"] += len(page.items)
        raise_first(await run_bounded(page.items, work, ctx.concurrency, ctx.stopping))
        if not ctx.dry_run and page.cursor is not None:
            with ctx.db.session() as session:
                set_cursor(session, ctx.name, stream, page.cursor)
                session.commit()
        if ctx.stopping.is_set():
            break


def already_parked(ctx: FlowContext, flow: str, key: str, content_hash: str | None) -> bool:
    """True when this exact content already failed: wait for a change or ``retry``."""
    from syncd.state.ops import is_parked

    with ctx.db.session() as session:
        return is_parked(session, ctx.name, flow, key, content_hash)


def park(
    ctx: FlowContext, result: FlowResult, flow: str, link_table: Any, key: str, reason: str,
    content_hash: str | None, *, keep: frozenset[str] = frozenset(),
) -> None:
    """Record an item as failed with its reason (the ``failure`` row and its link's status,
    unless the link is in one of the ``keep`` states); in a dry run, only say so."""
    from syncd.state.ops import now, record_failure

    result.counts["failed"] += 1
    if ctx.dry_run:
        ctx.would(f"{flow}: {key} fails: {reason}")
        return
    with ctx.db.session() as session:
        link = session.get(link_table, (ctx.name, key))
        if link is not None and link.status not in keep:
            link.status = "failed"
            link.error = reason
            link.updated_at = now()
            session.add(link)
        record_failure(session, ctx.name, flow, key, reason, content_hash)
        session.commit()


def park_unmappable(
    ctx: FlowContext, result: FlowResult, flow: str, link_table: Any, key: str,
    error: DataError, content_hash: str,
) -> None:
    """A record the mapping refused: park it once; the same content later is only counted."""
    if already_parked(ctx, flow, key, content_hash):
        result.counts["parked"] += 1
    else:
        park(ctx, result, flow, link_table, key, str(error), content_hash)


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ConfigError | DataError | TransientError) else (
        f"{type(exc).__name__}: {text}"
    )


async def record_run(
    ctx: FlowContext, flow: str, body: Callable[[FlowContext, FlowResult], Awaitable[None]]
) -> FlowResult:
    """Run one flow, record it in ``job_run`` (unless dry-run) and log one event."""
    result = FlowResult(store=ctx.name, flow=flow)
    log = structlog.get_logger("syncd.job").bind(store=ctx.name, flow=flow)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    run_id: int | None = None
    if not ctx.dry_run:
        with ctx.db.session() as session:
            row = JobRun(store=ctx.name, job=flow, started_at=started)
            session.add(row)
            session.commit()
            run_id = row.id
    try:
        await body(ctx, result)
    except Exception as exc:
        result.ok = False
        result.error = describe(exc)
    result.duration = time.perf_counter() - t0
    result.plan = list(ctx.plan)
    if run_id is not None:
        with ctx.db.session() as session:
            row = session.get(JobRun, run_id)
            if row is not None:
                row.finished_at = datetime.now(UTC)
                row.ok = result.ok
                row.counts = json.dumps(dict(result.counts), sort_keys=True)
                row.error = result.error
                session.add(row)
                session.commit()
    event: dict[str, Any] = {"ok": result.ok, "duration_s": round(result.duration, 3),
                             **dict(result.counts)}
    if result.error:
        event["error"] = result.error
    if ctx.dry_run:
        event["dry_run"] = True
    (log.info if result.ok else log.warning)("job_run", **event)
    return result
