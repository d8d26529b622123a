"""Webhook signing and delivery.

Deliveries run on one background thread so that a state change (made by an API request
on the server's event loop, or by a test calling ``sim.ship``) never waits for a receiver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Callable
from typing import Any

import httpx

SIGNATURE_HEADER = "X-OGOship-Hmac-SHA256"
# Builds the callback body from (webhook type, wire object); pluggable because the real
# payload shapes are unpublished [I].
PayloadBuilder = Callable[[str, dict[str, Any]], bytes]


def sign_webhook(key: str, body: bytes) -> str:
    """base64(HMAC-SHA256(key=utf8(key), msg=body)), the value of X-OGOship-Hmac-SHA256."""
    digest = hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def default_payload(kind: str, obj: dict[str, Any]) -> bytes:
    """The object itself (OrderResponse / StockResponse), compact JSON."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookDispatcher:
    """A queue of callbacks and the thread that POSTs them, recording each outcome."""

    def __init__(self, transport: httpx.BaseTransport | None = None, timeout: float = 5.0) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self._transport = transport
        self._timeout = timeout
        self._queue: queue.Queue[tuple[dict[str, Any], str, bytes] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None

    def enqueue(self, hook: dict[str, Any], kind: str, body: bytes) -> None:
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="myogo-sim-webhooks",
                                                daemon=True)
                self._thread.start()
        self._queue.put((hook, kind, body))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has been attempted; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(d) for d in self.deliveries]

    def clear(self) -> None:
        with self._lock:
            self.deliveries.clear()

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        with httpx.Client(transport=self._transport, timeout=self._timeout) as client:
            while (item := self._queue.get()) is not None:
                hook, kind, body = item
                record = self._deliver(client, hook, kind, body)
                with self._idle:
                    self.deliveries.append(record)
                    self._pending -= 1
                    self._idle.notify_all()

    @staticmethod
    def _deliver(client: httpx.Client, hook: dict[str, Any], kind: str,
                 body: bytes) -> dict[str, Any]:
        headers = {**(hook.get("customHeaders") or {}), "Content-Type": "application/json",
                   SIGNATURE_HEADER: sign_webhook(hook["key"], body)}
        record: dict[str, Any] = {"webhookId": hook["id"], "url": hook["url"], "type": kind,
                                  "body": body.decode("utf-8"), "status": None, "error": None}
        try:
            record["status"] = client.post(hook["url"], content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        return record
