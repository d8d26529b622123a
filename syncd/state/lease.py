"""Leases: several daemons on one PostgreSQL state database share the work safely.

One lease per (store, flow) in the ``lease`` table. A run takes the lease with one atomic
``INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at < now() OR holder = me`` and renews
it every third of its time while it runs. At the end it is not deleted but turned into a
reservation until half the flow's interval after the run started: every replica ticks
once per interval, and without it each would run each flow once per interval (never at
once, but twice the work). So a flow stays with the replica that ran it last while that
one lives. A run whose lease is held elsewhere is skipped (``counts["skipped_lease"] = 1``,
ok). A replica that dies keeps its leases only until they expire; then another takes over
and the intent rows make the resumption safe. Expiry is judged by the database's clock,
never by a replica's.

Store names are unique per database: ``store_owner`` records which merchant (scope) a
store name belongs to, and a daemon of another merchant using the same name is refused
with a ``ConfigError`` instead of silently sharing its cursors and order links.

On SQLite none of this applies: one daemon per file (``StateDB.daemon_lock``), so
``LeaseManager.hold`` always grants and the tables stay empty.

Why a table and not ``pg_try_advisory_lock``: see docs/scaling.md ("Leases").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel

from syncd.errors import ConfigError
from syncd.flows import NAMES as FLOW_NAMES

if TYPE_CHECKING:
    from syncd.config import Config
    from syncd.myogo.settings import MyogoSettings
    from syncd.state.db import StateDB

log = structlog.get_logger("syncd.lease")

#: Lease time when ``[daemon] lease_seconds`` is not (yet) a setting; the environment
#: variable overrides it (tests use a few seconds so a killed replica's leases lapse fast).
LEASE_SECONDS = 60.0
LEASE_SECONDS_ENV = "OGO_SYNCD_LEASE_SECONDS"
MIN_LEASE_SECONDS = 1.0
#: after a run, other replicas leave the flow alone until this share of its interval has
#: passed since the run started (below 1 - the 10 % scheduler jitter, so the holder's own
#: next tick always finds it free)
RESERVE_SHARE = 0.5
#: overrides RESERVE_SHARE (0 = no reservation: replicas compete on every tick; the kill
#: test uses it so the replica it kills gets work)
RESERVE_SHARE_ENV = "OGO_SYNCD_LEASE_RESERVE_SHARE"


def _now() -> datetime:
    return datetime.now(UTC)


class Lease(SQLModel, table=True):
    """Who runs one flow of one store now, until when (database time)."""

    __tablename__ = "lease"
    store: str = Field(primary_key=True)
    flow: str = Field(primary_key=True)
    scope: str                              # merchant scope of the holder
    holder: str                             # host:pid:random of the holding engine
    acquired_at: datetime = Field(default_factory=_now)
    expires_at: datetime = Field(default_factory=_now)
    released_at: datetime | None = None     # None while the run is in progress


class StoreOwner(SQLModel, table=True):
    """A store name belongs to one merchant in a shared state database."""

    __tablename__ = "store_owner"
    store: str = Field(primary_key=True)
    scope: str
    claimed_at: datetime = Field(default_factory=_now)


# ---------------------------------------------------------------- settings


def merchant_scope(myogo: MyogoSettings) -> str:
    """The merchant a config acts for: the myOGO merchant id, else a hash of the API key.

    A hash, never the key: the state DB holds no secrets. Prefer setting ``merchant_id``
    when sharing a database: a rotated API key changes the hash.
    """
    if myogo.merchant_id:
        return f"merchant:{myogo.merchant_id}"
    if myogo.api_key is not None:
        digest = hashlib.sha256(myogo.api_key.get_secret_value().encode()).hexdigest()
        return f"apikey:{digest[:16]}"
    return "merchant:unknown"


def lease_seconds(config: Config) -> float:
    """The lease time: ``$OGO_SYNCD_LEASE_SECONDS`` (an override for tests and emergencies),
    else ``[daemon] lease_seconds`` once the config has that setting, else 60 s."""
    env = os.environ.get(LEASE_SECONDS_ENV, "").strip()
    if env:
        try:
            return max(float(env), MIN_LEASE_SECONDS)
        except ValueError:
            raise ConfigError(f"expected a number of seconds, got {env!r}",
                              key=LEASE_SECONDS_ENV) from None
    configured = getattr(config.daemon, "lease_seconds", None)
    if configured is not None:
        return max(float(configured), MIN_LEASE_SECONDS)
    return LEASE_SECONDS


def _reserve_share() -> float:
    env = os.environ.get(RESERVE_SHARE_ENV, "").strip()
    if not env:
        return RESERVE_SHARE
    try:
        share = float(env)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 0.9:
        raise ConfigError(f"expected a number from 0 to 0.9, got {env!r}",
                          key=RESERVE_SHARE_ENV)
    return share


def new_holder_id() -> str:
    """Unique per engine: host and pid for the operator, random so a reused pid differs."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


# ---------------------------------------------------------------- atomic operations

_ACQUIRE = text("""
    INSERT INTO lease (store, flow, scope, holder, acquired_at, expires_at, released_at)
    VALUES (:store, :flow, :scope, :holder, now(), now() + :ttl * interval '1 second', NULL)
    ON CONFLICT (store, flow) DO UPDATE
       SET scope = EXCLUDED.scope, holder = EXCLUDED.holder,
           acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at,
           released_at = NULL
     WHERE lease.expires_at < now() OR lease.holder = EXCLUDED.holder
    RETURNING holder
""")
_RENEW = text("""
    UPDATE lease SET expires_at = now() + :ttl * interval '1 second'
     WHERE store = :store AND flow = :flow AND holder = :holder
    RETURNING holder
""")
_RELEASE = text("DELETE FROM lease WHERE store = :store AND flow = :flow AND holder = :holder")
_RESERVE = text("""
    UPDATE lease SET released_at = now(),
           expires_at = greatest(now(), acquired_at + :reserve * interval '1 second')
     WHERE store = :store AND flow = :flow AND holder = :holder
""")
_CLAIM = text("""
    INSERT INTO store_owner (store, scope, claimed_at) VALUES (:store, :scope, now())
    ON CONFLICT (store) DO NOTHING
""")
_OWNER = text("SELECT scope FROM store_owner WHERE store = :store")


def try_acquire(db: StateDB, store: str, flow: str, scope: str, holder: str,
                ttl: float) -> bool:
    """Take the lease if it is free, expired or already ours; True when we hold it now."""
    with db.engine.begin() as conn:
        row = conn.execute(_ACQUIRE, {"store": store, "flow": flow, "scope": scope,
                                      "holder": holder, "ttl": float(ttl)}).first()
    return row is not None


def renew(db: StateDB, store: str, flow: str, holder: str, ttl: float) -> bool:
    """Push the expiry out; False when the lease is no longer ours (taken over)."""
    with db.engine.begin() as conn:
        row = conn.execute(_RENEW, {"store": store, "flow": flow, "holder": holder,
                                    "ttl": float(ttl)}).first()
    return row is not None


def release(db: StateDB, store: str, flow: str, holder: str, reserve: float = 0.0) -> None:
    """Give the lease up (only our own: a lease taken over meanwhile is left alone).

    ``reserve`` > 0 keeps others off until that many seconds after the run started.
    """
    params = {"store": store, "flow": flow, "holder": holder}
    with db.engine.begin() as conn:
        if reserve > 0:
            conn.execute(_RESERVE, {**params, "reserve": float(reserve)})
        else:
            conn.execute(_RELEASE, params)


def claim_stores(db: StateDB, scope: str, stores: Iterable[str]) -> None:
    """Record that these store names belong to ``scope``; ConfigError if another merchant's.

    A no-op on SQLite (one daemon, one config per file).
    """
    if not db.is_postgres:
        return
    with db.engine.begin() as conn:
        for store in stores:
            conn.execute(_CLAIM, {"store": store, "scope": scope})
            owner = conn.execute(_OWNER, {"store": store}).scalar_one()
            if owner != scope:
                raise ConfigError(
                    f"the store name {store!r} already belongs to another merchant in the "
                    f"state database {db.describe()}; store names must be unique across the "
                    "merchants sharing a database: rename the store (or use another "
                    "database)", key="stores.name")


def claim_config_stores(db: StateDB, config: Config) -> None:
    """``claim_stores`` for every store of a config (the daemon calls it at start-up)."""
    claim_stores(db, merchant_scope(config.myogo), [s.name for s in config.stores])


# ---------------------------------------------------------------- holding a lease for a run


@dataclass
class HeldLease:
    """What ``LeaseManager.hold`` yields: run only when ``held``; obey ``stopping``."""

    held: bool
    stopping: asyncio.Event
    error: str | None = None
    lost: bool = False


@dataclass
class LeaseManager:
    """One per engine. ``hold`` wraps a run; on SQLite it always grants at once."""

    db: StateDB
    scope: str
    ttl: float = LEASE_SECONDS
    holder: str = field(default_factory=new_holder_id)
    reserve: dict[tuple[str, str], float] = field(default_factory=dict)  # seconds per flow
    _claimed: set[str] = field(default_factory=set)

    @classmethod
    def for_config(cls, config: Config, db: StateDB) -> LeaseManager:
        share = _reserve_share()
        reserve = {}
        for store in config.stores:
            for flow in FLOW_NAMES:
                interval = getattr(store.schedule, flow, None)
                if interval is not None and share > 0:
                    reserve[(store.name, flow)] = interval.total_seconds() * share
        return cls(db=db, scope=merchant_scope(config.myogo), ttl=lease_seconds(config),
                   reserve=reserve)

    @property
    def enabled(self) -> bool:
        return self.db.is_postgres

    @contextlib.asynccontextmanager
    async def hold(self, store: str, flow: str, parent_stopping: asyncio.Event, *,
                   needed: bool = True) -> AsyncIterator[HeldLease]:
        """Hold the (store, flow) lease for the body; renewed until the body ends.

        ``stopping`` of the yielded lease is set when ``parent_stopping`` is (shutdown) or
        when the lease is lost (could not be renewed in time, or was taken over): the flow
        then stops starting new writes, like on shutdown. ``needed=False`` (dry runs, which
        write nothing) and SQLite grant without touching the table.
        """
        if not (self.enabled and needed):
            yield HeldLease(held=True, stopping=parent_stopping)
            return
        if store not in self._claimed:
            await asyncio.to_thread(claim_stores, self.db, self.scope, [store])
            self._claimed.add(store)
        try:
            got = await asyncio.to_thread(try_acquire, self.db, store, flow, self.scope,
                                          self.holder, self.ttl)
        except SQLAlchemyError as exc:
            yield HeldLease(held=False, stopping=parent_stopping,
                            error=f"cannot take the lease: state database error "
                                  f"({_short(exc)})")
            return
        if not got:
            yield HeldLease(held=False, stopping=parent_stopping)
            return
        lease = HeldLease(held=True, stopping=asyncio.Event())
        tasks = [asyncio.create_task(_propagate(parent_stopping, lease.stopping)),
                 asyncio.create_task(self._keep(store, flow, lease))]
        try:
            yield lease
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                await asyncio.to_thread(release, self.db, store, flow, self.holder,
                                        self.reserve.get((store, flow), 0.0))
            except SQLAlchemyError as exc:   # it expires on its own
                log.warning("lease_release_failed", store=store, flow=flow, error=_short(exc))

    async def _keep(self, store: str, flow: str, lease: HeldLease) -> None:
        """Renew every ttl/3; give up (stop the run) once the lease is surely not ours."""
        every = self.ttl / 3
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(every)
            try:
                ours = await asyncio.to_thread(renew, self.db, store, flow, self.holder,
                                               self.ttl)
            except SQLAlchemyError as exc:
                ours = time.monotonic() - last_ok < self.ttl
                log.warning("lease_renew_failed", store=store, flow=flow, error=_short(exc))
            else:
                if ours:
                    last_ok = time.monotonic()
            if not ours:
                lease.lost = True
                lease.stopping.set()
                log.warning("lease_lost", store=store, flow=flow, holder=self.holder)
                return


async def _propagate(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


def _short(exc: BaseException) -> str:
    """A one-line reason (the driver's first line; never the URL or its password)."""
    orig: Any = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first}"[:300]
