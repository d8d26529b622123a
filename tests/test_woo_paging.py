"""The lost paid order of issue 12, reproduced step by step against the WooCommerce
simulator over HTTP with the real engine and state DB.

The sequence: a bulk action marks more orders than ``page_size`` paid in ONE second; the
order listing is down longer than the 2-minute overlap; during the catch-up scan one order
of that second is cancelled. Paging inside that second by offset then slid one order past
the offset unseen, and the window closed past the second, so no later run read it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.woocommerce.cursor import keyset_pages
from syncd.engine import Engine
from syncd.errors import TransientError
from syncd.http_retry import DEFAULT_POLICY
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import serve_in_thread
from syncd.testing.woo_sim import WooStore, create_app
from tests.conftest import Sims

PERSON = {"first_name": "Maija", "last_name": "Meikäläinen", "address_1": "Testikatu 1",
          "city": "Helsinki", "postcode": "00100", "country": "FI"}
PAGE_SIZE = 20          # conftest's page_size
BULK = 2 * PAGE_SIZE + 5


class AfterListing:
    """ASGI middleware: run ``action`` once, right after the ``n``-th paid-order listing."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0
        self.n = 0
        self.action: Callable[[], None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
        if scope["type"] != "http" or scope["method"] != "GET" \
                or not scope["path"].endswith("/wc/v3/orders") \
                or b"status=processing" not in scope.get("query_string", b""):
            return
        self.count += 1
        if self.action is not None and self.count == self.n:
            action, self.action = self.action, None
            action()


@pytest.fixture
def hook() -> AfterListing:
    return AfterListing(None)


@pytest.fixture
def sims(hook: AfterListing) -> Iterator[Sims]:
    myogo = MyogoSim()
    woo = WooStore()
    hook.app = create_app(woo)
    with serve_in_thread(myogo.app) as m, serve_in_thread(hook) as w:
        yield Sims(myogo, m.url, woo, w.url)
    myogo.close()


def _paid(woo: WooStore) -> int:
    return woo.add_order([("MUG", 1)], billing={**PERSON, "email": "m@example.com"},
                         shipping=PERSON)


def _same_second(woo: WooStore, ids: list[int]) -> None:
    """What an admin bulk action does: every order saved within one second."""
    with woo.lock:
        first = woo.orders[ids[0]]
        for order_id in ids:
            for field in ("date_modified", "date_modified_gmt"):
                woo.orders[order_id][field] = first[field]


@pytest.mark.parametrize("cancel_after", [2, 3])
async def test_no_paid_order_is_lost_when_one_leaves_a_busy_second_mid_scan(
    sims: Sims, engine: Engine, hook: AfterListing, cancel_after: int
) -> None:
    woo = sims.woo
    woo.add_product("Mug", "MUG", stock=100)
    assert (await engine.run_flow("woo", "products")).ok
    # The story starts 5 minutes ago (the shop's clock is set back; the daemon's is real).
    woo.advance(timedelta(minutes=-5))
    early = _paid(woo)
    assert (await engine.run_flow("woo", "orders")).ok     # the cursor exists

    woo.advance(timedelta(seconds=10))
    bulk = [_paid(woo) for _ in range(BULK)]               # > page_size in one second
    _same_second(woo, bulk)

    woo.faults = [503] * DEFAULT_POLICY.attempts           # the listing is down ...
    assert not (await engine.run_flow("woo", "orders")).ok
    woo.advance(timedelta(minutes=5, seconds=-10))         # ... until now: > the overlap

    cancelled = bulk[0]                                    # the merchant cancels one
    hook.count, hook.n, hook.action = 0, cancel_after, lambda: woo.cancel(cancelled)
    result = await engine.run_flow("woo", "orders")        # the catch-up scan
    assert result.ok, result.error
    assert hook.action is None, "the order was cancelled during the scan"
    for _ in range(2):                                     # later runs read nothing older
        woo.advance(timedelta(minutes=5))
        assert (await engine.run_flow("woo", "orders")).ok

    missing = [order_id for order_id in [early, *bulk[1:]]
               if len(sims.myogo.orders_by_reference(f"WC-{order_id}")) != 1]
    assert missing == [], f"paid orders never sent: {missing}"


# -- the paging on its own: rows that share seconds, in any tie order, moving mid-scan -----

class Listing:
    """WooCommerce's listing semantics over plain rows (strict ``modified_after`` /
    ``modified_before``, ``orderby`` modified or id, pages, ``X-WP-Total``), with ties
    in a fresh random order on every request (the paging must not rely on their order)
    and a random change between requests: a row leaves the listing or moves to "now"."""

    def __init__(self, rng: random.Random, rows: int, seconds: int, per_page: int) -> None:
        self.rng, self.per_page, self.now = rng, per_page, BASE + timedelta(seconds=seconds)
        self.changes = rng.randrange(1, 8)     # then the shop is quiet
        self.rows = {i: BASE + timedelta(seconds=rng.randrange(seconds))
                     for i in range(1, rows + 1)}
        self.left: set[int] = set()

    async def fetch(self, params: dict[str, Any], page: int
                    ) -> tuple[list[dict[str, Any]], bool, int]:
        after = params.get("modified_after")
        before = params.get("modified_before")
        rows = [(when, i) for i, when in self.rows.items()
                if (after is None or when > _gmt(after))
                and (before is None or when < _gmt(before))]
        if params["orderby"] == "id":
            rows.sort(key=lambda r: r[1])
        else:
            rows.sort(key=lambda r: (r[0], self.rng.random()))
        chunk = rows[(page - 1) * self.per_page: page * self.per_page]
        last = page * self.per_page >= len(rows)
        self._change()
        return ([{"id": i, "date_modified_gmt": when.strftime("%Y-%m-%dT%H:%M:%S")}
                 for when, i in chunk], last, len(rows))

    def _change(self) -> None:
        if self.changes and self.rng.random() < 0.3 and self.rows:
            self.changes -= 1
            victim = self.rng.choice(sorted(self.rows))
            if self.rng.random() < 0.5:
                del self.rows[victim]          # e.g. cancelled: leaves the paid listing
                self.left.add(victim)
            else:
                self.now += timedelta(seconds=1)
                self.rows[victim] = self.now   # modified again: moves to "now"


BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _gmt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("seed", range(40))
async def test_paging_never_skips_a_row_that_stays_listed(seed: int) -> None:
    rng = random.Random(seed)
    listing = Listing(rng, rows=rng.randrange(5, 60), seconds=rng.randrange(1, 6),
                      per_page=rng.choice([2, 3, 5, 10]))
    seen: Counter[int] = Counter()
    saved: str | None = None
    complete = 0
    for _ in range(12):         # runs, each from the cursor the last one saved
        try:
            async for rows, page_cursor in keyset_pages(listing.fetch, saved):
                seen.update(int(r["id"]) for r in rows)
                saved = page_cursor
            complete += 1
        except TransientError:  # a second kept changing: the run stops, its cursor stays
            continue
    assert complete >= 2
    missing = sorted(set(listing.rows) - set(seen))
    assert missing == [], f"rows still listed but never read: {missing}"
