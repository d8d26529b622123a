"""Store names belong to one merchant per shared state database.

The state tables are keyed by store name, not by merchant, so two merchants' stores both
called ``shop`` would share cursors and order links. ``store_owner`` records which
merchant (scope) a store name belongs to; a config of another merchant using a taken name
is refused with a ``ConfigError`` naming the store instead of silently sharing its rows.

On SQLite (one config per file) this is a no-op.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlmodel import Field, SQLModel

from syncd.errors import ConfigError

if TYPE_CHECKING:
    from syncd.config import Config
    from syncd.myogo.settings import MyogoSettings
    from syncd.state.db import StateDB


def _now() -> datetime:
    return datetime.now(UTC)


class StoreOwner(SQLModel, table=True):
    """A store name belongs to one merchant in a shared state database."""

    __tablename__ = "store_owner"
    store: str = Field(primary_key=True)
    scope: str
    claimed_at: datetime = Field(default_factory=_now)


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


_CLAIM = text("""
    INSERT INTO store_owner (store, scope, claimed_at) VALUES (:store, :scope, now())
    ON CONFLICT (store) DO NOTHING
""")
_OWNER = text("SELECT scope FROM store_owner WHERE store = :store")


def claim_stores(db: StateDB, scope: str, stores: Iterable[str]) -> None:
    """Record that these store names belong to ``scope``; ConfigError if another merchant's."""
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
    """``claim_stores`` for every store of a config (daemons and workers call it at start)."""
    claim_stores(db, merchant_scope(config.myogo), [s.name for s in config.stores])
