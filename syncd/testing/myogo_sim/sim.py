"""``MyogoSim``: the simulator's Python face (state, warehouse controls, faults, counts)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

import httpx

from syncd.testing.myogo_sim.app import SimApp
from syncd.testing.myogo_sim.auth import TokenIssuer
from syncd.testing.myogo_sim.base import SimConfig
from syncd.testing.myogo_sim.clock import SimClock
from syncd.testing.myogo_sim.extras import SimStore
from syncd.testing.myogo_sim.faults import Fault, FaultSet
from syncd.testing.myogo_sim.webhooks import PayloadBuilder, WebhookDispatcher, default_payload
from syncd.testing.myogo_sim.wire import normalize_keys


class MyogoSim:
    """A stateful myOGO account behind an ASGI app (``sim.app``).

    Thread-safe: uvicorn may serve ``app`` in one thread while a test calls these methods
    in another; every state access goes through ``lock``.
    """

    def __init__(self, *, client_id: str = "123456", client_secret: str = "abcdef",
                 merchants: dict[str, str] | None = None,
                 api_keys: dict[str, str] | None = None,
                 duplicate_reference: str = "reject",
                 enabled_shipping_codes: set[str] | None = None,
                 access_token_ttl: int = 5400, refresh_token_ttl: int = 14 * 24 * 3600,
                 stock_unknown_code: str = "empty",
                 webhooks_null_when_empty: bool = True,
                 clock: SimClock | None = None,
                 webhook_transport: httpx.BaseTransport | None = None,
                 webhook_payload: PayloadBuilder = default_payload) -> None:
        self.lock = threading.RLock()
        self.closing = threading.Event()
        self.clock = clock or SimClock()
        self._initial_config = dict(
            duplicate_reference=duplicate_reference,
            enabled_shipping_codes=set(enabled_shipping_codes) if enabled_shipping_codes else None,
            stock_unknown_code=stock_unknown_code,
            webhooks_null_when_empty=webhooks_null_when_empty)
        self.tokens = TokenIssuer(
            self.clock, client_id=client_id, client_secret=client_secret,
            merchants=merchants if merchants is not None else {"demo": "demo"},
            api_keys=api_keys, access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl)
        self.faults = FaultSet()
        self.dispatcher = WebhookDispatcher(webhook_transport)
        self.webhook_payload = webhook_payload
        self._counts: Counter[str] = Counter()
        self._admitted: deque[float] = deque()   # admission times under hidden_rate_limit
        self.throttled = 0                       # requests refused by hidden_rate_limit
        self.store = self._new_store()
        self.app = SimApp(self)

    def _new_store(self) -> SimStore:
        config = SimConfig(**self._initial_config)  # type: ignore[arg-type]
        _check_config(config)
        return SimStore(clock=self.clock, config=config, on_event=self._on_event)

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        """Queue one signed callback per subscription of that type (called under lock)."""
        hooks = self.store.webhooks_of_type(kind)
        if hooks:
            body = self.webhook_payload(kind, obj)
            for hook in hooks:
                self.dispatcher.enqueue(hook, kind, body)

    # -- lifecycle --------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the state right after construction (the clock keeps its time)."""
        with self.lock:
            self.store = self._new_store()
            self.tokens.reset()
            self.faults.clear()
            self._counts.clear()
            self._admitted.clear()
            self.throttled = 0
            self.dispatcher.clear()

    def close(self) -> None:
        """Stop the webhook thread and cut short any fault sleeping in a request."""
        self.closing.set()
        self.dispatcher.close()

    def configure(self, **changes: Any) -> None:
        """Change merchant switches at run time (duplicate_reference, enabled_shipping_codes,
        stock_unknown_code, webhooks_null_when_empty, hidden_rate_limit)."""
        with self.lock:
            config = self.store.config
            for name, value in changes.items():
                if not hasattr(config, name):
                    raise ValueError(f"unknown config option {name!r}")
                if name == "enabled_shipping_codes" and value is not None:
                    value = set(value)
                setattr(config, name, value)
            _check_config(config)

    # -- seeding and warehouse controls -----------------------------------------------
    def seed_products(self, products: list[dict[str, Any]]) -> None:
        with self.lock:
            for product in products:
                self.store.seed_product(normalize_keys(product))

    def set_stock(self, code: str, stock: int) -> None:
        with self.lock:
            self.store.set_stock(code, stock)

    def collect(self, reference: str) -> None:
        with self.lock:
            self.store.collect(reference)

    def ship(self, reference: str, tracking_number: str, tracking_url: str | None = None) -> None:
        with self.lock:
            self.store.ship(reference, tracking_number, tracking_url)

    def cancel(self, reference: str) -> None:
        with self.lock:
            self.store.cancel(reference)

    def return_order(self, reference: str) -> None:
        with self.lock:
            self.store.return_order(reference)

    # -- faults -----------------------------------------------------------------------
    def add_fault(self, kind: str, *, method: str | None = None, path: str | None = None,
                  count: int | None = None, rate: float | None = None, status: int = 503,
                  retry_after: float | None = None, seconds: float = 0.0,
                  seed: int | None = None) -> None:
        self.faults.add(Fault(kind, method=method, path=path, count=count, rate=rate,
                              status=status, retry_after=retry_after, seconds=seconds, seed=seed))

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- request counts ---------------------------------------------------------------
    def count_request(self, route: str) -> None:
        with self.lock:
            self._counts[route] += 1

    def throttle(self) -> bool:
        """True when an API request now exceeds ``hidden_rate_limit`` (counted as throttled);
        otherwise the request is admitted into the sliding one-second window."""
        with self.lock:
            limit = self.store.config.hidden_rate_limit
            if not limit:
                return False
            now = self.clock.now().timestamp()   # the sim's clock: tests can freeze it
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.popleft()
            if len(self._admitted) >= limit:
                self.throttled += 1
                return True
            self._admitted.append(now)
            return False

    def request_counts(self) -> dict[str, int]:
        """Requests per route template, e.g. {"GET /api/v1/orders": 3} (API and token only)."""
        with self.lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self.lock:
            self._counts.clear()
            self.throttled = 0

    # -- read access (wire-shaped copies) ---------------------------------------------
    @property
    def orders(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.store.emit_order(o) for o in self.store.orders]

    def orders_by_reference(self, reference: str) -> list[dict[str, Any]]:
        with self.lock:
            return [self.store.emit_order(o) for o in self.store.orders_with_reference(reference)]

    @property
    def products(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.store.emit_product(p) for p in self.store.products.values()]

    @property
    def stock(self) -> dict[str, dict[str, Any]]:
        """StockResponse per product code."""
        with self.lock:
            return {code: self.store.emit_stock(code) for code in self.store.stock}

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(h) for h in self.store.webhooks.values()]

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Webhook callbacks attempted so far: webhookId, url, type, body, status, error."""
        return self.dispatcher.records()

    def wait_for_deliveries(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until every queued webhook callback was attempted, then return them all."""
        if not self.dispatcher.wait_idle(timeout):
            raise TimeoutError("webhook deliveries still pending")
        return self.deliveries

    def state(self) -> dict[str, Any]:
        """Everything, wire-shaped (what GET /_sim/state answers)."""
        with self.lock:
            store = self.store
            return {"orders": self.orders, "products": self.products,
                    "stock": list(self.stock.values()), "webhooks": self.webhooks,
                    "deliveries": self.deliveries,
                    "stockUpdates": [store.emit_stock_update(u) for u in store.stock_updates],
                    "returns": [store.emit_return(r) for r in store.returns],
                    "metadata": [{"id": k, "metadata": dict(v)} for k, v in store.metadata.items()],
                    "config": store.config.as_wire()}


def _check_config(config: SimConfig) -> None:
    if config.duplicate_reference not in {"reject", "allow"}:
        raise ValueError("duplicate_reference must be 'reject' or 'allow'")
    if config.stock_unknown_code not in {"empty", "404"}:
        raise ValueError("stock_unknown_code must be 'empty' or '404'")
