"""What every flow shares: its context, its result, bounded concurrency, run recording."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from syncd.connector import StoreConnector
from syncd.errors import ConfigError, DataError, TransientError
from syncd.flows import NAMES
from syncd.model import Page
from syncd.state.tables import JobRun

if TYPE_CHECKING:
    from syncd.config import StoreConfig
    from syncd.myogo import MyogoClient
    from syncd.state.db import StateDB

T = TypeVar("T")
FLOWS = NAMES   # the registry's names (syncd.flows), kept here for older imports


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
    worker: str | None = None                # fleet mode: recorded in job_run.worker

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


#: how the runner parks an item whose work raised a DataError (the flow knows its key)
ParkItem = Callable[[T, DataError], None]


async def run_bounded(
    items: Iterable[T],
    work: Callable[[T], Awaitable[None]],
    limit: int,
    stopping: asyncio.Event,
    *,
    park: ParkItem[T],
) -> list[BaseException]:
    """Run ``work`` over items, at most ``limit`` at once; stop starting new ones on shutdown.

    A DataError escaping an item parks that item (``park``) and the rest go on; other
    exceptions are returned for the caller to classify. In-flight writes always finish:
    cancellation is never forced on them.
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
            except DataError as exc:
                park(item, exc)
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


@dataclass
class _OpenPage:
    """A page whose items are started or waiting; ``left`` counts the unfinished ones."""

    page: Page[Any]
    left: int
    broken: bool = False       # an item failed (not parked) or was never started


#: called with an open session whenever a page finishes (and once at the end), before the
#: cursor is saved in the same transaction: a flow writes what it batched for the page
Flush = Callable[[Any], None]


async def apply_pages(
    ctx: FlowContext,
    stream: str,
    pages: AsyncIterator[Page[T]],
    work: Callable[[T], Awaitable[None]],
    result: FlowResult | None = None,
    *,
    park: ParkItem[T],
    flush: Flush | None = None,
) -> None:
    """Apply every item of every page with one window of ``ctx.concurrency`` writes across
    pages, reading the next page while writes are in flight.

    Ordered completion: a page's cursor is saved only when all its items and all items of
    the pages before it are done or parked, so the cursor never passes an unfinished item.
    A DataError escaping an item parks it (``park``); a transient or config error starts no
    new page and stops the run with the cursor before the page that failed.
    """
    window = asyncio.Semaphore(max(1, ctx.concurrency))
    open_pages: deque[_OpenPage] = deque()
    tasks: set[asyncio.Task[None]] = set()
    errors: list[BaseException] = []
    skipped = False

    def save(done: list[_OpenPage]) -> None:
        """Write what the flow batched, and the cursor of the last page in ``done``."""
        from syncd.state.ops import set_cursor

        if ctx.dry_run or (flush is None and not done):
            return
        cursor = next((p.page.cursor for p in reversed(done) if p.page.cursor is not None),
                      None)
        with ctx.db.session() as session:
            if flush is not None:
                flush(session)
            if cursor is not None:
                set_cursor(session, ctx.name, stream, cursor)
            session.commit()

    def advance() -> None:
        """A page finished: save up to the first page that is not (ordered completion)."""
        done: list[_OpenPage] = []
        while open_pages and open_pages[0].left == 0 and not open_pages[0].broken:
            done.append(open_pages.popleft())
        try:
            save(done)
        except Exception as exc:  # the state DB failed: stop like any other error
            errors.append(exc)
            for page in open_pages:
                page.broken = True

    async def one(item: T, page: _OpenPage) -> None:
        try:
            try:
                await work(item)
            except DataError as exc:
                park(item, exc)
        except Exception as exc:  # collected, classified below (a failed park too)
            errors.append(exc)
            page.broken = True
        finally:
            window.release()
            page.left -= 1
        if page.left == 0:
            advance()

    source = aiter(pages)
    upcoming: asyncio.Future[Page[T] | None] = asyncio.ensure_future(anext(source, None))
    try:
        while not errors:
            page = await upcoming
            if page is None:
                break
            upcoming = asyncio.ensure_future(anext(source, None))   # prefetch the next page
            if result is not None:
                result.counts["seen"] += len(page.items)
            current = _OpenPage(page, len(page.items))
            open_pages.append(current)
            for item in page.items:
                await window.acquire()
                earlier_failed = any(p.broken for p in open_pages if p is not current)
                if ctx.stopping.is_set() or earlier_failed:
                    window.release()
                    skipped = skipped or ctx.stopping.is_set()
                    current.broken = True
                    break
                task = asyncio.create_task(one(item, current))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if current.left == 0:
                advance()
            if ctx.stopping.is_set():
                break
    finally:
        if not upcoming.done():
            upcoming.cancel()
        await asyncio.gather(upcoming, return_exceptions=True)
        with contextlib.suppress(Exception):
            await source.aclose()  # type: ignore[attr-defined]
        if tasks:   # in-flight writes always finish
            await asyncio.gather(*tasks, return_exceptions=True)
        if flush is not None and not ctx.dry_run:
            with ctx.db.session() as session:
                flush(session)
                session.commit()
    if skipped and not errors:
        errors.append(IncompletePage("shutting down before the page was finished"))
    raise_first(errors)


def already_parked(ctx: FlowContext, flow: str, key: str, content_hash: str | None) -> bool:
    """True when this exact content already failed: wait for a change or ``retry``."""
    from syncd.state.ops import is_parked

    with ctx.db.session() as session:
        return is_parked(session, ctx.name, flow, key, content_hash)


def park(
    ctx: FlowContext, result: FlowResult, flow: str, link_table: Any | None, key: str,
    reason: str,
    content_hash: str | None, *, keep: frozenset[str] = frozenset(),
) -> None:
    """Record an item as failed with its reason (the ``failure`` row and its link's status,
    unless the link is in one of the ``keep`` states or ``link_table`` is None); in a dry
    run, only say so."""
    from syncd.state import ledger

    result.counts["failed"] += 1
    if ctx.dry_run:
        ctx.would(f"{flow}: {key} fails: {reason}")
        return
    with ctx.db.session() as session:
        ledger.park(session, ctx.name, flow, key, reason, content_hash, link=link_table,
                    keep=keep)
        session.commit()


def parker(
    ctx: FlowContext, result: FlowResult, flow: str, key: Callable[[T], str],
    link_table: Any | None = None, *, keep: frozenset[str] = frozenset(),
) -> ParkItem[T]:
    """The runner's ``park`` for one flow: a DataError that escaped an item becomes that
    item's failure row (its reason is the error's message), so one bad item never fails
    the run."""

    def park_item(item: T, exc: DataError) -> None:
        park(ctx, result, flow, link_table, key(item), describe(exc), None, keep=keep)

    return park_item


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
            row = JobRun(store=ctx.name, job=flow, started_at=started, worker=ctx.worker)
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
