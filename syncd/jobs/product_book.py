"""What the products flow knows about the items of the pages in flight, with no query per item.

Each page's links, failures and SKU owners are read in three queries when the page arrives
(``load``). Links decided in this run are written in one bulk upsert per flush (``flush``,
in the cursor's transaction) and kept in memory until every page read before their commit
is finished, so an item never decides on a read that missed a write of this run (a product
seen twice in one scan, or two store items sharing a SKU on different pages).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from syncd.mapping import clean_text
from syncd.model import Product, Unreadable
from syncd.state import ProductLink, ledger
from syncd.state.db import StateDB
from syncd.state.ledger import ProductStatus
from syncd.state.ops import parked_hashes


@dataclass
class LinkState:
    """A product link as far as deciding goes; ``gen``: the flush that committed it."""

    sku: str | None
    status: str
    content_hash: str | None
    gen: int | None = None


@dataclass
class _Snapshot:
    gen: int                                  # flushes committed when it was read
    left: int                                 # items of its page not yet decided
    links: dict[str, LinkState]
    parked: dict[str, str | None]             # store id -> hash it failed with
    owners: dict[str, list[str]] = field(default_factory=dict)  # SKU -> synced store ids


class ProductBook:
    """Per-run decisions of the products flow for one store (see the module doc)."""

    def __init__(self, db: StateDB, store: str, flow: str) -> None:
        self.db, self.store, self.flow = db, store, flow
        self._snapshots: list[_Snapshot] = []
        self._page_of: dict[int, _Snapshot] = {}
        self._recent: dict[str, LinkState] = {}           # this run's decisions by store id
        self._claims: dict[str, str] = {}                 # SKU -> store id written with it
        #: links not yet written: store id -> (key, sku, content_hash, myogo_id, payload)
        self._pending: dict[str, tuple[str, str, str, str | None, str]] = {}
        self._flushes = 0

    # -- reads -------------------------------------------------------------------------

    def load(self, items: Sequence[Product | Unreadable]) -> None:
        """Read what the state DB has for one page's products (three queries)."""
        keys = [p.store_id for p in items]
        codes = sorted({c for p in items if isinstance(p, Product) and (c := clean_text(p.sku))})
        with self.db.session() as session:
            rows = session.exec(select(
                ProductLink.store_id, ProductLink.sku, ProductLink.status,
                ProductLink.content_hash).where(
                ProductLink.store == self.store, col(ProductLink.store_id).in_(keys))).all()
            parked = parked_hashes(session, self.store, self.flow, keys)
            owners: dict[str, list[str]] = {}
            if codes:
                synced = select(ProductLink.store_id, ProductLink.sku).where(
                    ProductLink.store == self.store, col(ProductLink.sku).in_(codes),
                    ProductLink.status == ProductStatus.SYNCED)
                for store_id, sku in session.exec(synced):
                    owners.setdefault(sku or "", []).append(store_id)
        snapshot = _Snapshot(self._flushes, len(items),
                             {r[0]: LinkState(r[1], r[2], r[3]) for r in rows}, parked, owners)
        self._snapshots.append(snapshot)
        for product in items:
            self._page_of[id(product)] = snapshot

    def link(self, key: str) -> LinkState | None:
        if key in self._recent:
            return self._recent[key]
        for snapshot in reversed(self._snapshots):
            if key in snapshot.links:
                return snapshot.links[key]
        return None

    def is_parked(self, key: str, content_hash: str) -> bool:
        """True when this exact content already failed (as ``state.ops.is_parked``)."""
        if key in self._recent:
            state = self._recent[key]
            return state.status == ProductStatus.FAILED and state.content_hash == content_hash
        for snapshot in reversed(self._snapshots):
            if key in snapshot.parked:
                return snapshot.parked[key] == content_hash
        return False

    def twin(self, code: str, key: str) -> str | None:
        """Another store item whose synced link uses ``code``, if any."""
        claimed = self._claims.get(code)
        if claimed is not None and claimed != key and self._owns(claimed, code):
            return claimed
        for snapshot in reversed(self._snapshots):
            for owner in snapshot.owners.get(code, ()):
                if owner != key and self._owns(owner, code):
                    return owner
        return None

    def _owns(self, store_id: str, code: str) -> bool:
        state = self._recent.get(store_id)
        return state is None or (state.status == ProductStatus.SYNCED and state.sku == code)

    # -- decisions ---------------------------------------------------------------------

    def wrote(self, key: str, code: str, content_hash: str, myogo_id: str | None,
              payload_json: str) -> None:
        """myOGO has this product as ``payload_json``: link it at the next flush."""
        self._recent[key] = LinkState(code, ProductStatus.SYNCED, content_hash)
        self._claims[code] = key
        self._pending[key] = (key, code, content_hash, myogo_id, payload_json)

    def failed(self, key: str, content_hash: str | None) -> None:
        """The item was parked (committed by the caller): drop any write still pending."""
        self._pending.pop(key, None)
        self._recent[key] = LinkState(None, ProductStatus.FAILED, content_hash)

    def done(self, product: Product | Unreadable) -> None:
        """One item is decided; a page whose items all are no longer needs its read."""
        snapshot = self._page_of.pop(id(product), None)
        if snapshot is None:
            return
        snapshot.left -= 1
        if snapshot.left == 0:
            self._snapshots.remove(snapshot)
            self._prune()

    # -- writes ------------------------------------------------------------------------

    def flush(self, session: Session) -> None:
        """Upsert the pending links and clear their failures; the caller commits."""
        ledger.mark_synced_many(session, self.store, list(self._pending.values()))
        self._pending.clear()
        self._flushes += 1
        for state in self._recent.values():
            if state.gen is None:
                state.gen = self._flushes
        self._prune()

    def _prune(self) -> None:
        """Forget decisions every open page's read already includes."""
        oldest = min((s.gen for s in self._snapshots), default=self._flushes)
        stale = [k for k, s in self._recent.items()
                 if s.gen is not None and s.gen <= oldest and k not in self._pending]
        for key in stale:
            del self._recent[key]
        if stale:
            self._claims = {c: k for c, k in self._claims.items() if k in self._recent}


def payload_text(payload: dict[str, Any]) -> str:
    """The payload as stored in the link (and hashed): sorted keys, so equal means equal."""
    return json.dumps(payload, sort_keys=True)
