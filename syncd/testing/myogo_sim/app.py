"""The ASGI app: routing, request counting, fault injection, auth, error answers.

Order per request: read the body, resolve the route, count it, pick a fault, check
credentials and scope, run the handler under the simulator's lock, answer (or not).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from syncd.testing.myogo_sim.errors import (
    ApiFailure,
    ControlError,
    OAuthFailure,
    SimulatedDrop,
)
from syncd.testing.myogo_sim.faults import Fault
from syncd.testing.myogo_sim.routes_api import api_routes
from syncd.testing.myogo_sim.routes_control import control_routes
from syncd.testing.myogo_sim.routing import Call, Route, json_response, raw_path, resolve
from syncd.testing.myogo_sim.wire import Query, api_error_body

if TYPE_CHECKING:
    from syncd.testing.myogo_sim.sim import MyogoSim

Scope = dict[str, Any]
Receive = Any
Send = Any
# uvicorn h11 has no phrase for this status, so sending it fails before any byte is
# written; the connection is then closed with no response at all (see _drop).
_UNSENDABLE_STATUS = 99


class _HideSimulatedDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for every deliberate drop."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDrop)


logging.getLogger("uvicorn.error").addFilter(_HideSimulatedDrops())


class SimApp:
    """ASGI callable bound to one ``MyogoSim``."""

    def __init__(self, sim: MyogoSim) -> None:
        self.sim = sim
        self.routes: list[Route] = api_routes(sim) + control_routes(sim)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            body = await request.body()
        except ClientDisconnect:  # the client went away mid-upload (e.g. it was killed)
            return
        method = request.method.upper()
        path = raw_path(scope)
        route, params, path_known = resolve(self.routes, method, path)
        is_control = path.lower().startswith("/_sim/")
        fault: Fault | None = None
        if not is_control:
            self.sim.count_request(route.name if route else f"{method} (unmatched)")
            fault = self.sim.faults.take(method, path)
        if fault is not None and fault.kind == "stall":
            if await self._pause(fault.seconds, receive):
                return  # the client gave up while the request was in transit: never handled
            fault = None
        if fault is not None and fault.kind != "commit_timeout":
            response = await self._pre_fault(fault, receive, send)
            if response is not None:
                await response(scope, receive, send)
                return
        if route is not None and route.kind == "api" and self.sim.throttle():
            headers = {"Retry-After": "1"}
            await json_response(api_error_body(429, "Too many requests (hidden limit)."), 429,
                                headers)(scope, receive, send)
            return
        response = self._answer(route, params, path_known, request, body)
        if fault is not None and fault.kind == "commit_timeout":
            # The write is stored; the client never learns so.
            await self._pause(fault.seconds, receive)
            await _drop(send)
        await response(scope, receive, send)

    def _answer(self, route: Route | None, params: dict[str, str], path_known: bool,
                request: Request, body: bytes) -> Response:
        if route is None:
            status = 405 if path_known else 404
            return json_response(api_error_body(status, f"No route for {request.method} "
                                                        f"{request.url.path}"), status)
        call = Call(request, params, Query(request.query_params.multi_items()), body)
        try:
            if route.kind == "api":
                call.grant = self.sim.tokens.authenticate(request.headers)
                if route.scope and route.scope not in call.grant.scopes:
                    raise ApiFailure(403, f"The token lacks the scope '{route.scope}'.")
            with self.sim.lock:
                return route.handler(call)
        except ApiFailure as exc:
            return json_response(api_error_body(exc.status, exc.message), exc.status, exc.headers)
        except OAuthFailure as exc:
            return json_response({"error": exc.error, "error_description": exc.description},
                                 exc.status)
        except (KeyError, ControlError, ValueError, TypeError) as exc:
            if route.kind != "control":
                raise  # a simulator bug on an API route: let it be a 500
            if isinstance(exc, KeyError):
                return json_response({"error": f"not found: {exc.args[0]!r}"}, 404)
            status = 409 if isinstance(exc, ControlError) else 400
            return json_response({"error": str(exc)}, status)

    async def _pre_fault(self, fault: Fault, receive: Receive, send: Send) -> Response | None:
        """Apply a fault that acts before the request is handled; a Response ends it."""
        if fault.kind == "latency":
            await self._pause(fault.seconds, receive)
            return None
        if fault.kind == "drop":
            await _drop(send)
        if fault.kind == "rate_limit":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None \
                else None
            return json_response(api_error_body(429, "Too many requests (simulated)."), 429,
                                 headers)
        return json_response(api_error_body(fault.status, "Simulated server error."),
                             fault.status)

    async def _pause(self, seconds: float, receive: Receive) -> bool:
        """Sleep without blocking other requests; stop early if the client hangs up
        (its read timeout fired, or it was killed) or the simulator is closing.
        True when the client hung up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        hang_up = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            while (remaining := deadline - loop.time()) > 0 and not self.sim.closing.is_set():
                done, _ = await asyncio.wait({hang_up}, timeout=min(0.05, remaining))
                if done:
                    return True
        finally:
            hang_up.cancel()
        return False


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _drop(send: Send) -> None:
    """Close the connection without answering.

    Under uvicorn (h11) the unsendable status marks the response as started without
    writing anything, so the exception below makes uvicorn close the socket instead of
    sending a 500: the client sees "Server disconnected without sending a response".
    In-process (httpx.ASGITransport) the exception reaches the client as-is: a
    SimulatedDrop, which is an ``httpx.RemoteProtocolError``.
    """
    try:
        await send({"type": "http.response.start", "status": _UNSENDABLE_STATUS, "headers": []})
    except Exception:
        pass  # expected on a real server; the drop follows anyway
    raise SimulatedDrop()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
