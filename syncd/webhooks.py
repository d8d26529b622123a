"""Webhooks as triggers: the daemon's HTTP surface wiring and `ogo-syncd webhooks register`.

A webhook never carries data we trust (docs/operations.md, webhooks): a verified delivery
just runs the matching flow now instead of at its next scheduled time: in this process for
the embedded daemon, as a queued job (``trigger``) for a fleet worker, so any worker may
run it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import structlog

from syncd import flows
from syncd.connector import Capability
from syncd.errors import ConfigError
from syncd.myogo import MyogoClient, WebHook
from syncd.web import ORDER_SHIPPED, STOCK_CHANGED, WebServer, build_app, serve_web

if TYPE_CHECKING:
    from syncd.config import Config

log = structlog.get_logger("syncd.webhooks")
WEBHOOK_PATH = "/webhooks/myogo"


Trigger = Callable[[str, str], Awaitable[Any]]


async def start_http_surface(daemon: Any, engine: Any, listen: str, *,
                             trigger: Trigger | None = None) -> WebServer:
    """The HTTP surface of a daemon (``Daemon`` + ``Engine``) or of a fleet worker
    (``FleetWorker`` + ``Engines``); ``trigger(store, flow)`` defaults to running the flow
    in this process."""
    background: set[asyncio.Task[Any]] = set()
    start = trigger or engine.run_flow

    def trigger_now(store: str, flow: str) -> None:
        task = asyncio.get_running_loop().create_task(start(store, flow))
        background.add(task)
        task.add_done_callback(background.discard)

    def health() -> dict[str, Any]:
        return {"status": "ok", "stores": sorted(engine.stores), "runs": daemon.cycles}

    def ready() -> tuple[bool, dict[str, Any]]:
        failing = {f"{store}/{flow}": result.error
                   for (store, flow), result in engine.last_results.items() if not result.ok}
        ok = daemon.started and not failing
        return ok, {"ready": ok, "started": daemon.started, "failing": failing}

    def key() -> str | None:
        secret = engine.config.myogo.webhook_key
        return secret.get_secret_value() if secret else None

    async def on_myogo_event(event: str, body: bytes) -> None:
        runs = flows.for_myogo_event(event)
        for store in engine.stores:
            for flow in runs:
                if engine.supports(store, flow.name):
                    trigger_now(store, flow.name)

    async def on_store_webhook(store: str, headers: Mapping[str, str], body: bytes) -> int:
        connector = engine.connectors.get(store)
        if connector is None or Capability.WEBHOOKS not in connector.capabilities:
            return 404
        try:
            event = await connector.parse_webhook(headers, body)
        except ValueError as exc:
            log.warning("store_webhook_refused", store=store, reason=str(exc))
            return 401
        except ConfigError as exc:  # e.g. no webhook secret configured for this store
            log.warning("store_webhook_not_configured", store=store, reason=str(exc))
            return 404
        spec = flows.for_store_event(event.kind) if event is not None else None
        if spec is not None and engine.supports(store, spec.name):
            trigger_now(store, spec.name)
            return 202
        return 200

    app = build_app(health=health, ready=ready, myogo_webhook_key=key,
                    on_myogo_event=on_myogo_event, on_store_webhook=on_store_webhook,
                    registry=daemon.metrics.registry, metrics=daemon.metrics,
                    store_names=lambda: engine.connectors.keys())
    server = await serve_web(app, listen)
    log.info("http_listening", url=server.url)
    return server


async def register_webhooks(config: Config, base_url: str, key: str | None) -> list[str]:
    """Create or update one myOGO subscription per event type pointing at ``base_url``."""
    secret = key or (config.myogo.webhook_key.get_secret_value()
                     if config.myogo.webhook_key else None)
    if not secret:
        raise ConfigError("set [myogo] webhook_key (or --key) so deliveries can be verified",
                          key="myogo.webhook_key")
    if not base_url.startswith("https://") and not base_url.startswith("http://"):
        raise ConfigError("expected an http(s) URL", key="--url")
    target = base_url.rstrip("/") + WEBHOOK_PATH
    out: list[str] = []
    async with MyogoClient(config.myogo) as client:
        existing = await client.list_webhooks()
        for event in (ORDER_SHIPPED, STOCK_CHANGED):
            url = f"{target}?type={event}"
            mine = [h for h in existing if h.type == event and h.url.startswith(target)]
            if mine:
                hook = mine[0].model_copy(update={"url": url, "key": WebHook(
                    url=url, key=secret, type=event).key})
                await client.update_webhook(hook)
                out.append(f"updated {event} -> {url}")
            else:
                await client.create_webhook(WebHook(url=url, key=secret, type=event))
                out.append(f"created {event} -> {url}")
    return out
