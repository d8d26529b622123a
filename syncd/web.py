"""The daemon's optional HTTP surface: health, readiness, metrics and webhook receivers.

Webhooks are only *triggers to re-poll* (docs/operations.md, webhooks): a myOGO delivery is
accepted only with a valid ``X-OGOship-Hmac-SHA256`` over the raw body, answered 200 at
once, and handed to the daemon in the background; nothing in its body is trusted beyond a
hint of which flow to run. Store webhooks are verified by their connector (each store signs
differently), so this module only routes them and enforces the size limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.metrics import UNKNOWN_SOURCE, Metrics
from syncd.myogo.webhooks import verify_webhook as _verify

log = structlog.get_logger("syncd.web")

SIGNATURE_HEADER = "X-OGOship-Hmac-SHA256"
#: set on the subscription (customHeaders) or as ?type= in its URL to skip body sniffing
EVENT_HEADER = "X-Ogo-Syncd-Event"
ORDER_SHIPPED = "OrderShipped"
STOCK_CHANGED = "ProductStockLevelChanged"
UNKNOWN_EVENT = "unknown"
_EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")

HealthFn = Callable[[], dict[str, Any]]
ReadyFn = Callable[[], tuple[bool, dict[str, Any]]]
KeyFn = Callable[[], str | None]
MyogoEventFn = Callable[[str, bytes], Awaitable[None]]
StoreWebhookFn = Callable[[str, Mapping[str, str], bytes], Awaitable[int]]


class BodyTooLarge(Exception):
    """The request body exceeds ``max_body``."""


async def read_body(request: Request, max_body: int) -> bytes:
    """The raw body, refusing early on Content-Length and while streaming (chunked)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def infer_event_type(body: bytes) -> str:
    """Best guess of a myOGO webhook's type from its (unpublished) body shape.

    An order object (``trackingNumber``/``reference``) means OrderShipped; a stock object
    (``productCode``) means ProductStockLevelChanged; anything else is "unknown" (the
    daemon then re-polls both).
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return UNKNOWN_EVENT
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        return UNKNOWN_EVENT
    keys = {str(k).lower() for k in data}
    if keys & {"trackingnumber", "reference"}:
        return ORDER_SHIPPED
    if "productcode" in keys:
        return STOCK_CHANGED
    return UNKNOWN_EVENT


def build_app(
    *,
    health: HealthFn,
    ready: ReadyFn,
    myogo_webhook_key: KeyFn,
    on_myogo_event: MyogoEventFn,
    on_store_webhook: StoreWebhookFn,
    registry: CollectorRegistry,
    max_body: int = 1_000_000,
    metrics: Metrics | None = None,
    store_names: Callable[[], Collection[str]] = frozenset,
) -> Starlette:
    """The ASGI app. Callbacks are the daemon's; this module holds no state of its own
    except the set of running webhook tasks (``app.state.webhook_tasks``), which the
    daemon may await on shutdown.

    ``store_names`` are the configured stores: a store webhook for any other name is
    refused (404) before its body is read, and counted under ``source="unknown"`` so a
    caller cannot add label values to ``/metrics``.
    """
    tasks: set[asyncio.Task[None]] = set()

    def count(source: str, result: str) -> None:
        if metrics is not None:
            metrics.record_webhook(source, result)

    async def healthz(request: Request) -> Response:
        return JSONResponse(health())

    async def readyz(request: Request) -> Response:
        ok, detail = ready()
        return JSONResponse(detail, status_code=200 if ok else 503)

    async def metrics_endpoint(request: Request) -> Response:
        if metrics is not None:
            metrics.refresh()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def run_in_background(event: str, body: bytes) -> None:
        async def deliver() -> None:
            try:
                await on_myogo_event(event, body)
            except Exception:
                log.exception("myogo_webhook_handler_failed", type=event)

        task = asyncio.get_running_loop().create_task(deliver())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def myogo_webhook(request: Request) -> Response:
        key = myogo_webhook_key()
        if not key:
            count("myogo", "disabled")
            return JSONResponse({"error": "myOGO webhooks are not configured"}, 404)
        try:
            body = await read_body(request, max_body)
        except BodyTooLarge:
            count("myogo", "too_large")
            return JSONResponse({"error": "body too large"}, 413)
        if not _verify(key, body, request.headers.get(SIGNATURE_HEADER)):
            count("myogo", "unauthorized")
            log.warning("myogo_webhook_refused", reason="bad or missing signature",
                        client=request.client.host if request.client else None)
            return JSONResponse({"error": "bad signature"}, 401)
        hinted = request.query_params.get("type") or request.headers.get(EVENT_HEADER)
        if hinted is not None and not _EVENT_NAME.match(hinted):
            count("myogo", "bad_request")
            return JSONResponse({"error": "bad event type"}, 400)
        event = hinted or infer_event_type(body)
        count("myogo", "accepted")
        log.info("myogo_webhook", type=event, bytes=len(body))
        run_in_background(event, body)
        return JSONResponse({"accepted": True, "type": event})

    async def store_webhook(request: Request) -> Response:
        store = request.path_params["store"]
        if store not in store_names():
            count(UNKNOWN_SOURCE, "unknown_store")
            return JSONResponse({"error": "no such store"}, 404)
        try:
            body = await read_body(request, max_body)
        except BodyTooLarge:
            count(store, "too_large")
            return JSONResponse({"error": "body too large"}, 413)
        try:
            status = int(await on_store_webhook(store, request.headers, body))
        except Exception:
            count(store, "error")
            log.exception("store_webhook_handler_failed", store=store)
            return JSONResponse({"error": "internal error"}, 500)
        if not 100 <= status <= 599:
            status = 500
        count(store, {401: "unauthorized", 404: "unknown_store"}.get(
            status, "accepted" if status < 300 else "error"))
        return Response(status_code=status)

    app = Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/webhooks/myogo", myogo_webhook, methods=["POST"]),
        Route("/webhooks/store/{store}", store_webhook, methods=["POST"]),
    ])
    app.state.webhook_tasks = tasks
    return app


@dataclass(frozen=True)
class ListenAddress:
    host: str | None       # None for a unix socket
    port: int | None
    path: str | None = None


def parse_listen(listen: str) -> ListenAddress:
    """``127.0.0.1:8080``, ``[::1]:8080``, ``:8080`` (all interfaces), ``8080``
    (localhost) or ``unix:/run/ogo-syncd/http.sock``."""
    text = listen.strip()
    if text.startswith("unix:"):
        path = text[5:]
        if not path.startswith("/"):
            raise ValueError(f"unix socket path must be absolute: {listen!r}")
        return ListenAddress(None, None, path)
    if text.isdigit():
        host, port = "127.0.0.1", text
    elif text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.rpartition(":")
        host = host or "0.0.0.0"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address must be HOST:PORT, not {listen!r}")
    return ListenAddress(host, int(port))


def _bind(address: ListenAddress) -> socket.socket:
    """Bind ourselves so a busy port is an OSError here, not uvicorn's ``sys.exit``."""
    if address.path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address.path)
    else:
        assert address.host is not None and address.port is not None
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        sock = socket.create_server((address.host, address.port), family=family,
                                    reuse_port=False)
    sock.set_inheritable(False)
    return sock


class _LoopServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the daemon's loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None


class WebServer:
    """Handle on the running HTTP surface: ``url``, ``task`` and ``await stop()``."""

    url: str   # http://host:port (the real port when 0 was asked for) or unix:/path

    def __init__(self, server: _LoopServer, task: asyncio.Task[None], sock: socket.socket
                 ) -> None:
        self.server = server
        self.task = task
        name = sock.getsockname()
        if isinstance(name, str):
            self.url = f"unix:{name}"
        else:
            host, port = name[0], name[1]
            self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace`` s), then return."""
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace)
        except TimeoutError:
            self.server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def serve_web(app: Starlette, listen: str, *, graceful_seconds: int = 5) -> WebServer:
    """Start uvicorn for ``app`` inside the running loop; returns once it accepts requests.

    Raises OSError when the address cannot be bound and RuntimeError when the server
    fails to start.
    """
    sock = _bind(parse_listen(listen))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                            server_header=False, timeout_graceful_shutdown=graceful_seconds)
    server = _LoopServer(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            exc = task.exception()
            raise RuntimeError(f"HTTP server on {listen} did not start") from exc
        await asyncio.sleep(0.01)
    handle = WebServer(server, task, sock)
    log.info("http_listening", url=handle.url)
    return handle
