"""The engine: one myOGO client, one connector per store, the state DB, and the flows.

Used by the daemon (scheduled runs, webhook triggers), by fleet workers (one procrastinate
job = one ``run_flow``) and by the CLI (one-off runs). One flow of one store never runs
twice at once in a process (a lock per store and flow); across fleet workers the job lock
"store:flow" sees to it (``syncd.fleet``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from syncd import flows
from syncd.config import Config, StoreConfig
from syncd.connector import StoreConnector, load_connector
from syncd.errors import ConfigError, SyncdError
from syncd.jobs.base import FlowContext, FlowResult
from syncd.myogo import MyogoClient
from syncd.state.db import StateDB

STORE_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass
class CheckResult:
    what: str
    ok: bool
    message: str


def _with_webhook_secret(store: StoreConfig) -> Any:
    """The connector settings, given the store-level ``webhook_secret`` when the connector
    has such a setting and it was not set in ``[stores.options]``."""
    settings = store.settings
    if (store.webhook_secret is not None and "webhook_secret" in type(settings).model_fields
            and getattr(settings, "webhook_secret", None) is None):
        return settings.model_copy(update={"webhook_secret": store.webhook_secret})
    return settings


class Engine:
    """Owns the clients for a config; ``async with Engine(config, db) as engine: ...``."""

    def __init__(
        self,
        config: Config,
        db: StateDB,
        *,
        myogo_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.myogo = MyogoClient(config.myogo, transport=myogo_transport)
        self.stores: dict[str, StoreConfig] = {s.name: s for s in config.stores if s.enabled}
        self.connectors: dict[str, StoreConnector] = {}
        self._http: list[httpx.AsyncClient] = []
        self.stopping = asyncio.Event()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self.last_results: dict[tuple[str, str], FlowResult] = {}
        self.on_result: list[Callable[[FlowResult], None]] = []
        self.worker: str | None = None      # fleet mode: recorded with each run

    async def __aenter__(self) -> Engine:
        for store in self.stores.values():
            cls = load_connector(store.connector)
            http = httpx.AsyncClient(timeout=STORE_TIMEOUT, follow_redirects=False)
            self._http.append(http)
            self.connectors[store.name] = cls(_with_webhook_secret(store), http)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for connector in self.connectors.values():
            await connector.aclose()
        for http in self._http:
            await http.aclose()
        await self.myogo.aclose()

    def store(self, name: str) -> StoreConfig:
        if name not in self.stores:
            raise ConfigError(f"no enabled store named {name!r}; stores: "
                              f"{', '.join(self.stores) or 'none'}", key="--store")
        return self.stores[name]

    def supports(self, store: str, flow: str) -> bool:
        return flows.get(flow).capability in self.connectors[store].capabilities

    def context(self, store: str, **options: Any) -> FlowContext:
        return FlowContext(
            store=self.store(store),
            connector=self.connectors[store],
            myogo=self.myogo,
            db=self.db,
            concurrency=self.config.daemon.write_concurrency,
            stopping=self.stopping,
            worker=self.worker,
            **options,
        )

    async def run_flow(self, store: str, flow: str, **options: Any) -> FlowResult:
        """Run one flow for one store (waits if the same flow is already running)."""
        if flow not in flows.BY_NAME:
            raise ConfigError(f"unknown flow {flow!r}; flows: {', '.join(flows.NAMES)}")
        if not self.supports(store, flow):
            result = FlowResult(store=store, flow=flow)
            result.counts["skipped"] = 1
            return result
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            async with self._locks.setdefault((store, flow), asyncio.Lock()):
                if self.stopping.is_set():
                    result = FlowResult(store=store, flow=flow, ok=False,
                                        error="not started: shutting down")
                    return result
                result = await flows.get(flow).runner(self.context(store, **options))
        finally:
            if task is not None:
                self._running.discard(task)
        self.last_results[(store, flow)] = result
        for callback in self.on_result:
            callback(result)
        return result

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 - a grace period, not a cancel
        """Stop starting work and wait for in-flight runs to finish their writes."""
        self.stopping.set()
        current = asyncio.current_task()
        pending = [t for t in self._running if t is not current]
        if not pending:
            return True
        _done, not_done = await asyncio.wait(pending, timeout=timeout)
        return not not_done

    async def check(self, *, stores: bool = True) -> list[CheckResult]:
        """Try the myOGO credentials and each store's ``check()``."""
        results: list[CheckResult] = []
        try:
            # One cheap authenticated read: a reference no order has.
            async for _page in self.myogo.iter_orders(reference="ogo-syncd-connection-check"):
                break
            results.append(CheckResult("myogo", True, "credentials accepted"))
        except SyncdError as exc:
            results.append(CheckResult("myogo", False, str(exc)))
        if stores:
            for name, connector in self.connectors.items():
                try:
                    await connector.check()
                    results.append(CheckResult(f"store {name}", True, "credentials accepted"))
                except (SyncdError, httpx.HTTPError) as exc:
                    results.append(CheckResult(f"store {name}", False, str(exc)))
        return results
