"""The test-control API under /_sim (no auth, not counted, never faulted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from syncd.testing.myogo_sim.errors import ApiFailure
from syncd.testing.myogo_sim.routing import Call, Route, json_response

if TYPE_CHECKING:
    from syncd.testing.myogo_sim.sim import MyogoSim


def control_routes(sim: MyogoSim) -> list[Route]:
    def reset(call: Call) -> Response:
        sim.reset()
        return json_response({"ok": True})

    def products(call: Call) -> Response:
        items = call.json()
        if not isinstance(items, list):
            raise ApiFailure(400, "expected a JSON array of products")
        sim.seed_products(items)
        return json_response({"ok": True, "count": len(items)})

    def stock(call: Call) -> Response:
        body = call.object()
        if not isinstance(body.get("stock"), int):
            raise ApiFailure(400, 'expected {"stock": <int>}')
        sim.set_stock(call.params["code"], body["stock"])
        return json_response(sim.store.emit_stock(call.params["code"]))

    def order_action(action: str) -> Any:
        def handler(call: Call) -> Response:
            reference = call.params["reference"]
            if action == "ship":
                body = call.object()
                if not body.get("trackingNumber"):
                    raise ApiFailure(400, "trackingNumber is required")
                sim.ship(reference, body["trackingNumber"], body.get("trackingUrl"))
            else:
                getattr(sim, {"return": "return_order"}.get(action, action))(reference)
            return json_response(sim.store.emit_order(sim.store.latest_order(reference)))
        return handler

    def faults_post(call: Call) -> Response:
        body = call.object()
        kind = body.pop("kind", None)
        if not kind:
            raise ApiFailure(400, "kind is required")
        names = {"method": "method", "path": "path", "count": "count", "rate": "rate",
                 "status": "status", "retryAfter": "retry_after", "seconds": "seconds",
                 "seed": "seed"}
        options = {names[k]: v for k, v in body.items() if k in names and v is not None}
        sim.add_fault(kind, **options)
        return json_response({"faults": [f.as_wire() for f in sim.faults.active()]})

    def faults_get(call: Call) -> Response:
        return json_response({"faults": [f.as_wire() for f in sim.faults.active()]})

    def faults_delete(call: Call) -> Response:
        sim.clear_faults()
        return json_response({"faults": []})

    def requests_get(call: Call) -> Response:
        counts = sim.request_counts()
        return json_response({"total": sum(counts.values()), "byRoute": counts,
                              "throttled": sim.throttled})

    def requests_delete(call: Call) -> Response:
        sim.reset_counts()
        return json_response({"total": 0, "byRoute": {}})

    def state(call: Call) -> Response:
        return json_response(sim.state())

    def clock(call: Call) -> Response:
        body = call.object()
        seconds = body.get("advance", 0)
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ApiFailure(400, 'expected {"advance": <seconds >= 0>}')
        return json_response({"now": sim.clock.advance(seconds).isoformat()})

    def config_put(call: Call) -> Response:
        body = call.object()
        sim.configure(**{_snake(k): v for k, v in body.items()})
        return json_response(sim.store.config.as_wire())

    def config_get(call: Call) -> Response:
        return json_response(sim.store.config.as_wire())

    base = "/_sim"
    routes: list[tuple[str, str, Any]] = [
        ("POST", "/reset", reset),
        ("POST", "/products", products),
        ("PUT", "/stock/{code}", stock),
        *[("POST", f"/orders/{{reference}}/{a}", order_action(a))
          for a in ("collect", "ship", "cancel", "return")],
        ("POST", "/faults", faults_post),
        ("GET", "/faults", faults_get),
        ("DELETE", "/faults", faults_delete),
        ("GET", "/requests", requests_get),
        ("DELETE", "/requests", requests_delete),
        ("GET", "/state", state),
        ("POST", "/clock", clock),
        ("PUT", "/config", config_put),
        ("GET", "/config", config_get),
    ]
    return [Route(method, base + path, handler, kind="control") for method, path, handler in routes]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
