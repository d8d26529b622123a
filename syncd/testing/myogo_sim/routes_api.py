"""The myOGO API surface: /OAuth/Token and /api/v1/... handlers.

Handlers run synchronously while the app holds the simulator's lock.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from syncd.testing.myogo_sim.errors import ApiFailure, OAuthFailure
from syncd.testing.myogo_sim.routing import Call, Route, json_response, no_content
from syncd.testing.myogo_sim.wire import modified_after, paged

if TYPE_CHECKING:
    from syncd.testing.myogo_sim.sim import MyogoSim

API = "/api/v1"


def api_routes(sim: MyogoSim) -> list[Route]:
    """Every API route; ``sim.store`` is read per call because reset() replaces it."""

    def token(call: Call) -> Response:
        content_type = call.request.headers.get("content-type", "")
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            raise OAuthFailure("invalid_request",
                               "The request body must be application/x-www-form-urlencoded.")
        form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
        form.update(_basic_client(call.request.headers.get("authorization", "")))
        return json_response(sim.tokens.grant(form), headers={"Cache-Control": "no-store"})

    # -- orders -----------------------------------------------------------------------
    def orders_get(call: Call) -> Response:
        store = sim.store
        items = store.orders
        reference = call.query.get("reference")
        if reference is not None:
            items = [o for o in items if o["reference"] == reference]
        items = modified_after(call.query, items, lambda o: o["editTime"])
        page = paged(call.query, items, lambda o: (o["editTime"], o["id"]))
        return json_response([store.emit_order(o) for o in page])

    def orders_post(call: Call) -> Response:
        return json_response(sim.store.emit_order(sim.store.create_order(call.object())))

    def orders_put(call: Call) -> Response:
        order = sim.store.update_order(call.params["reference"], call.object())
        return json_response(sim.store.emit_order(order))

    # -- products and stock -----------------------------------------------------------
    def products_get(call: Call) -> Response:
        store = sim.store
        items = list(store.products.values())
        for param, key in (("code", "code"), ("eanCode", "eanCode")):
            wanted = call.query.get(param)
            if wanted is not None:
                items = [p for p in items if p.get(key) == wanted]
        items = modified_after(call.query, items, lambda p: p["editTime"])
        page = paged(call.query, items, lambda p: (p["editTime"], p["id"]))
        return json_response([store.emit_product(p) for p in page])

    def products_post(call: Call) -> Response:
        return json_response(sim.store.emit_product(sim.store.create_product(call.object())))

    def products_put(call: Call) -> Response:
        code = call.params["code"]
        if call.query.flag("base64url"):
            code = _base64url(code)
        return json_response(sim.store.emit_product(sim.store.update_product(code, call.object())))

    def stock_get(call: Call) -> Response:
        store = sim.store
        codes = list(store.stock)
        wanted = call.query.get("productCode")
        if wanted is not None:
            codes = [c for c in codes if c == wanted]
            if not codes and store.config.stock_unknown_code == "404":
                raise ApiFailure(404, f"Product with code '{wanted}' was not found")
        codes = modified_after(call.query, codes, lambda c: store.stock[c]["modified"])
        page = paged(call.query, codes, lambda c: (store.stock[c]["modified"], c))
        return json_response([store.emit_stock(c) for c in page])

    # -- stock updates ----------------------------------------------------------------
    def stock_updates_get(call: Call) -> Response:
        store = sim.store
        items = store.stock_updates
        for param, key in (("reference", "reference"), ("autoreference", "autoReference")):
            wanted = call.query.get(param)
            if wanted is not None:
                items = [u for u in items if u[key] == wanted]
        items = modified_after(call.query, items, lambda u: u["modified"])
        page = paged(call.query, items, lambda u: (u["modified"], u["id"]))
        return json_response([store.emit_stock_update(u) for u in page])

    def stock_updates_post(call: Call) -> Response:
        update = sim.store.create_stock_update(call.object())
        return json_response(sim.store.emit_stock_update(update))

    # -- webhooks ---------------------------------------------------------------------
    def webhooks_get(call: Call) -> Response:
        hooks = [dict(h) for h in sim.store.webhooks.values()]
        if not hooks and sim.store.config.webhooks_null_when_empty:
            return json_response(None)
        return json_response(hooks)

    def webhooks_post(call: Call) -> Response:
        return json_response(dict(sim.store.create_webhook(call.object())))

    def webhook_get(call: Call) -> Response:
        return json_response(dict(sim.store.webhook(call.params["id"])))

    def webhook_put(call: Call) -> Response:
        return json_response(dict(sim.store.update_webhook(call.params["id"], call.object())))

    def webhook_delete(call: Call) -> Response:
        sim.store.delete_webhook(call.params["id"])
        return no_content()

    # -- metadata (paths inferred) ----------------------------------------------------
    def metadata_get(call: Call) -> Response:
        return json_response(sim.store.get_metadata(call.params["objectId"]))

    def metadata_put(call: Call) -> Response:
        return json_response(sim.store.put_metadata(call.params["objectId"], call.object()))

    def metadata_delete(call: Call) -> Response:
        sim.store.delete_metadata(call.params["objectId"])
        return no_content()

    # -- returns (shape inferred) -----------------------------------------------------
    def returns_get(call: Call) -> Response:
        store = sim.store
        items = store.returns
        for param in ("reference", "orderReference"):
            wanted = call.query.get(param)
            if wanted is not None:
                items = [r for r in items if r[param] == wanted]
        items = modified_after(call.query, items, lambda r: r["editTime"])
        page = paged(call.query, items, lambda r: (r["editTime"], r["id"]))
        return json_response([store.emit_return(r) for r in page])

    def returns_post(call: Call) -> Response:
        return json_response(sim.store.emit_return(sim.store.create_return(call.object())))

    def returns_put(call: Call) -> Response:
        item = sim.store.update_return(call.params["reference"], call.object())
        return json_response(sim.store.emit_return(item))

    routes: list[tuple[str, str, Any, str | None]] = [
        ("GET", "/orders", orders_get, "read:order"),
        ("POST", "/orders", orders_post, "write:order"),
        ("PUT", "/orders/{reference}", orders_put, "write:order"),
        ("GET", "/products", products_get, "read:product"),
        ("POST", "/products", products_post, "write:product"),
        ("PUT", "/products/{code}", products_put, "write:product"),
        ("GET", "/stock", stock_get, "read:product"),
        ("GET", "/StockUpdate", stock_updates_get, "read:product"),
        ("POST", "/StockUpdate", stock_updates_post, "write:product"),
        ("GET", "/webhooks", webhooks_get, "read:webhook"),
        ("POST", "/webhooks", webhooks_post, "write:webhook"),
        ("GET", "/webhooks/{id}", webhook_get, "read:webhook"),
        ("PUT", "/webhooks/{id}", webhook_put, "write:webhook"),
        ("DELETE", "/webhooks/{id}", webhook_delete, "write:webhook"),
        ("GET", "/metadata/{objectId}", metadata_get, "read:metadata"),
        ("PUT", "/metadata/{objectId}", metadata_put, "write:metadata"),
        ("DELETE", "/metadata/{objectId}", metadata_delete, "write:metadata"),
        ("GET", "/returns", returns_get, "read:order"),
        ("POST", "/returns", returns_post, "write:order"),
        ("PUT", "/returns/{reference}", returns_put, "write:order"),
    ]
    return [Route("POST", "/OAuth/Token", token, kind="token")] + [
        Route(method, API + path, handler, scope=scope) for method, path, handler, scope in routes
    ]


def _basic_client(header: str) -> dict[str, str]:
    """Client credentials from an HTTP Basic header (RFC 6749 2.3.1), if one is sent."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(value).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return {}
    return {"client_id": client_id, "client_secret": secret}


def _base64url(text: str) -> str:
    """Decode a base64url path segment (padding optional) as used by the .NET client."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiFailure(400, f"'{text}' is not a valid base64url product code") from None
