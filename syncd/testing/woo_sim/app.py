"""The WooCommerce REST v3 simulator as a Starlette ASGI app.

Routes, parameters, error codes and headers follow WooCommerce core and the Shipment
Tracking extension (docs/connectors/woocommerce.md): Basic auth or
``consumer_key``/``consumer_secret`` in the query, ``X-WP-Total``/``X-WP-TotalPages``,
``per_page`` <= 100, batch endpoints limited to 100 objects (413 above), per-item errors in
batch answers, ``modified_after`` with ``dates_are_gmt``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from syncd.testing.woo_sim.store import ORDER_STATUSES, Json, WooStore

WC = "/wp-json/wc/v3"
TRACKING = "/wp-json/wc-shipment-tracking/v3"
PRODUCT_ORDERBY = ("date", "id", "include", "title", "slug", "price", "popularity", "rating",
                   "modified")
ORDER_ORDERBY = ("date", "id", "include", "title", "slug", "modified")


class ApiError(Exception):
    """A WP_Error: ``{"code", "message", "data": {"status"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.extra: Json = {}

    def response(self) -> JSONResponse:
        return JSONResponse({"code": self.code, "message": self.message,
                             "data": {"status": self.status, **self.extra}},
                            status_code=self.status)


def invalid_param(name: str, code: str, message: str) -> ApiError:
    """The REST server's argument validation error: 400 ``rest_invalid_param`` naming the
    parameter, the reason in ``data.params`` and ``data.details`` (its own error code)."""
    error = ApiError(400, "rest_invalid_param", f"Invalid parameter(s): {name}")
    error.extra = {"params": {name: message},
                   "details": {name: {"code": code, "message": message, "data": None}}}
    return error


def _one_of(name: str, choices: Sequence[str]) -> ApiError:
    listed = ", ".join(choices[:-1]) + f", and {choices[-1]}" if len(choices) > 2 \
        else " and ".join(choices)
    return invalid_param(name, "rest_not_in_enum", f"{name} is not one of {listed}.")


@dataclass
class Call:
    """One routed request: path ids, query, JSON body."""

    ids: list[int]
    query: dict[str, str]
    multi: dict[str, list[str]]
    body: Any

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true", "yes")


Handler = Callable[[WooStore, Call], Response | Any]


def create_app(store: WooStore) -> Starlette:
    """An ASGI app serving ``store`` under ``/wp-json``."""
    routes = _routes()

    async def dispatch(request: Request) -> Response:
        path = "/" + request.path_params["path"].rstrip("/")
        if not path.startswith("/wp-json"):
            return HTMLResponse("<h1>Shop front page</h1>")
        with store.lock:
            fault = store.faults.pop(0) if store.faults else None
        if fault is not None:
            return JSONResponse({"code": "simulated_fault", "message": "simulated fault",
                                 "data": {"status": fault}}, status_code=fault)
        if not store.pretty_permalinks:
            return HTMLResponse("<html><title>Page not found</title></html>", status_code=404)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return ApiError(400, "rest_invalid_json", "Invalid JSON body passed.").response()
        for method, pattern, template, handler, needs_auth in routes:
            match = pattern.fullmatch(path)
            if match is None or method != request.method:
                continue
            if template.startswith(TRACKING) and not store.shipment_tracking:
                break
            call = Call([int(g) for g in match.groups()], dict(request.query_params),
                        _multi(request), body)
            with store.lock:
                store.requests[f"{method} {template.removeprefix(WC)}"] += 1
                store.request_log.append((method, path, dict(request.query_params)))
                try:
                    if needs_auth:
                        _authenticate(store, request, method)
                    result = handler(store, call)
                    # rendered under the lock: records are live store state
                    return result if isinstance(result, Response) else JSONResponse(result)
                except ApiError as error:
                    return error.response()
        return ApiError(404, "rest_no_route",
                        "No route was found matching the URL and request method.").response()

    return Starlette(routes=[Route("/{path:path}", dispatch,
                                   methods=["GET", "POST", "PUT", "DELETE"])])


def _multi(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key.removesuffix("[]"), []).append(value)
    return out


# -- auth ---------------------------------------------------------------------------------

def _authenticate(store: WooStore, request: Request, method: str) -> None:
    """WC_REST_Authentication: Basic (over TLS) or query-string keys, then key permissions."""
    key = secret = None
    header = "" if store.strip_authorization else request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key = secret = None
    elif "consumer_key" in request.query_params:
        key = request.query_params.get("consumer_key")
        secret = request.query_params.get("consumer_secret", "")
    api_key = store.keys.get(key) if key is not None else None
    if api_key is None:
        # no or an unknown key: the request runs as a guest and the permission check fails
        if method == "GET":
            raise ApiError(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if request.url.path.endswith("/batch"):
            raise ApiError(401, "woocommerce_rest_cannot_batch",
                           "Sorry, you are not allowed to batch manipulate this resource.")
        raise ApiError(401, "woocommerce_rest_cannot_edit", "Sorry, you cannot edit this resource.")
    if api_key.secret != secret:
        raise ApiError(401, "woocommerce_rest_authentication_error",
                       "Consumer secret is invalid.")
    if method == "GET" and api_key.permissions == "write":
        raise ApiError(401, "woocommerce_rest_authentication_error",
                       "The API key provided does not have read permissions.")
    if method != "GET" and api_key.permissions == "read":
        raise ApiError(401, "woocommerce_rest_authentication_error",
                       "The API key provided does not have write permissions.")


# -- collection helpers -------------------------------------------------------------------

def _paged(call: Call, rows: list[Json], orderby_choices: tuple[str, ...],
           store: WooStore) -> Response:
    """Sort, page and answer with X-WP-Total / X-WP-TotalPages."""
    per_page = _int_param(call, "per_page", 10, 1, 100)
    page = _int_param(call, "page", 1, 1, None)
    orderby = call.query.get("orderby", "date")
    if orderby not in orderby_choices or (orderby == "modified" and not store.orderby_modified):
        allowed = [c for c in orderby_choices if c != "modified" or store.orderby_modified]
        raise _one_of("orderby", allowed)
    order = call.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise _one_of("order", ("asc", "desc"))
    sort_field = {"date": "date_created_gmt", "modified": "date_modified_gmt",
                  "title": "name", "slug": "slug", "price": "price"}.get(orderby)
    rows.sort(key=lambda r: (str(r.get(sort_field, "")) if sort_field else "", r["id"]),
              reverse=order == "desc")
    total = len(rows)
    pages = math.ceil(total / per_page) if total else 0
    chunk = rows[(page - 1) * per_page: page * per_page]
    return JSONResponse(chunk, headers={"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})


def _int_param(call: Call, name: str, default: int, low: int, high: int | None) -> int:
    text = call.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid_param(name, "rest_invalid_type",
                            f"{name} is not of type integer.") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} (inclusive) and {high} (inclusive)" \
            if high else f"greater than or equal to {low}"
        raise invalid_param(name, "rest_out_of_bounds", f"{name} must be {bound}")
    return value


def _date_filter(store: WooStore, call: Call, rows: list[Json]) -> list[Json]:
    """``modified_after``/``modified_before`` (strict); the bound is a moment (see
    ``_parse_param_time``), compared with the rows' GMT dates."""
    gmt = call.flag("dates_are_gmt")
    field = "date_modified_gmt"
    for param, keep in (("modified_after", lambda a, b: a > b),
                        ("modified_before", lambda a, b: a < b)):
        text = call.query.get(param)
        if not text:
            continue
        bound = _parse_param_time(param, text, store, gmt)
        rows = [r for r in rows if keep(_row_time(r[field]), bound)]
    return rows


def _parse_param_time(name: str, text: str, store: WooStore, gmt: bool) -> datetime:
    """A naive value is the site's local time, or GMT with ``dates_are_gmt``. A value with
    ``Z`` or an offset is first turned into the site's local wall time (WordPress's
    ``rest_parse_date``), which ``dates_are_gmt`` then reads as GMT: so with the flag an
    explicit offset is off by the site's own offset (seen on WooCommerce 11)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_param(name, "rest_invalid_date", "Invalid date.") from None
    local = timezone(store.utc_offset)
    if value.tzinfo is not None:
        value = value.astimezone(local).replace(tzinfo=None)
    return value.replace(tzinfo=UTC if gmt else local)


def _row_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _list_values(call: Call, name: str) -> list[str]:
    values: list[str] = []
    for raw in call.multi.get(name, []):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


# -- products -----------------------------------------------------------------------------

def _include(call: Call, rows: list[Json]) -> list[Json]:
    """``include``: only these ids (a comma list or repeated ``include[]``)."""
    wanted = {int(v) for v in _list_values(call, "include") if v.isdigit()}
    return [r for r in rows if r["id"] in wanted] if "include" in call.multi else rows


def list_products(store: WooStore, call: Call) -> Response:
    skus = _list_values(call, "sku")
    if len(skus) > 1:
        # core explodes the list on commas and also matches the whole text as one SKU
        skus += [raw for raw in call.multi.get("sku", []) if "," in raw]
    if skus:
        # core switches post_type to product + product_variation when filtering by SKU
        rows = [{**r, "name": store.title(r)}
                for r in (*store.products.values(), *store.variations.values())
                if r["sku"] and r["sku"] in skus and r["status"] != "trash"]
    else:
        rows = [r for r in store.products.values() if r["status"] != "trash"]
    if "type" in call.query:
        rows = [r for r in rows if r["type"] == call.query["type"]]
    rows = _date_filter(store, call, _include(call, rows))
    return _paged(call, [dict(r) for r in rows], PRODUCT_ORDERBY, store)


def get_product(store: WooStore, call: Call) -> Json:
    record = store.products.get(call.ids[0])
    if record is None:
        raise ApiError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return record


def put_product(store: WooStore, call: Call) -> Json:
    get_product(store, call)
    return store.update_item(call.ids[0], call.body)


def _check_batch(store: WooStore, body: Any) -> Json:
    if not isinstance(body, dict):
        raise ApiError(400, "rest_invalid_json", "Invalid JSON body passed.")
    count = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
    if count > store.batch_limit:
        raise ApiError(413, "woocommerce_rest_request_entity_too_large",
                       f"Unable to accept more than {store.batch_limit} items for this request.")
    return body


def _batch_update(store: WooStore, body: Json, valid: Callable[[int], bool],
                  invalid_code: str, invalid_status: int = 400) -> Json:
    out: Json = {}
    if body.get("update") is not None:
        results = []
        for item in body["update"]:
            item_id = int(item.get("id") or 0)
            if not valid(item_id):
                results.append({"id": item_id, "error": {
                    "code": invalid_code, "message": "Invalid ID.",
                    "data": {"status": invalid_status}}})
                continue
            results.append(store.update_item(item_id, item))
        out["update"] = results
    for key in ("create", "delete"):
        if body.get(key):
            out[key] = [{"id": 0, "error": {"code": "woocommerce_rest_not_simulated",
                                            "message": f"batch {key} is not simulated",
                                            "data": {"status": 400}}} for _ in body[key]]
    return out


def batch_products(store: WooStore, call: Call) -> Json:
    body = _check_batch(store, call.body)
    return _batch_update(store, body, lambda i: i in store.products,
                         "woocommerce_rest_product_invalid_id")


def list_variations(store: WooStore, call: Call) -> Response:
    parent = store.products.get(call.ids[0]) or {"variations": []}   # no parent: 200 []
    rows = [store.variations[v] for v in parent["variations"]]
    skus = _list_values(call, "sku")
    if skus:
        rows = [r for r in rows if r["sku"] in skus]
    rows = _date_filter(store, call, _include(call, rows))
    return _paged(call, [dict(r) for r in rows], ("date", "id", "include", "title", "slug",
                                                  "modified"), store)


def batch_variations(store: WooStore, call: Call) -> Json:
    parent = get_product(store, call)
    body = _check_batch(store, call.body)
    return _batch_update(store, body, lambda i: i in parent["variations"],
                         "woocommerce_rest_product_variation_invalid_id", 404)


# -- orders -------------------------------------------------------------------------------

def list_orders(store: WooStore, call: Call) -> Response:
    statuses = _list_values(call, "status") or ["any"]
    for status in statuses:
        if status not in (*ORDER_STATUSES, "any", "trash", "checkout-draft"):
            raise _one_of("status", (*ORDER_STATUSES, "any", "trash", "checkout-draft"))
    rows = [r for r in store.orders.values() if r["status"] in statuses
            or ("any" in statuses and r["status"] != "trash")]
    rows = _date_filter(store, call, rows)
    return _paged(call, [dict(r) for r in rows], ORDER_ORDERBY, store)


def delete_product(store: WooStore, call: Call) -> Json:
    """Without ``force`` to the trash (the answer shows the product before); else gone."""
    get_product(store, call)
    return store.delete_item(call.ids[0], force=call.flag("force"))


def delete_order(store: WooStore, call: Call) -> Json:
    get_order(store, call)
    return store.delete_order(call.ids[0], force=call.flag("force"))


def get_order(store: WooStore, call: Call) -> Json:
    record = store.orders.get(call.ids[0])
    if record is None:
        raise ApiError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    return record


def put_order(store: WooStore, call: Call) -> Json:
    get_order(store, call)
    status = call.body.get("status") if isinstance(call.body, dict) else None
    if status is not None and status not in ORDER_STATUSES:
        raise _one_of("status", (*ORDER_STATUSES, "any", "trash", "checkout-draft"))
    return store.update_order(call.ids[0], call.body)


def list_notes(store: WooStore, call: Call) -> list[Json]:
    get_order(store, call)
    notes = store.order_notes(call.ids[0])
    kind = call.query.get("type", "any")
    if kind == "customer":
        notes = [n for n in notes if n["customer_note"]]
    elif kind == "internal":
        notes = [n for n in notes if not n["customer_note"]]
    return list(reversed(notes))


def post_note(store: WooStore, call: Call) -> Response:
    get_order(store, call)
    note = (call.body or {}).get("note")
    if not note:
        raise ApiError(400, "rest_missing_callback_param", "Missing parameter(s): note")
    entry = store.add_note(call.ids[0], str(note), bool(call.body.get("customer_note")))
    return JSONResponse(entry, status_code=201)


# -- shipment tracking extension ----------------------------------------------------------

def _tracking_out(item: Json) -> Json:
    return {"tracking_id": item["tracking_id"],
            "tracking_provider": item["custom_tracking_provider"] or item["tracking_provider"],
            "tracking_link": item["custom_tracking_link"],
            "tracking_number": item["tracking_number"],
            "date_shipped": datetime.fromtimestamp(item["date_shipped"], UTC).strftime(
                "%Y-%m-%d")}


def list_trackings(store: WooStore, call: Call) -> list[Json]:
    get_order(store, call)
    return [_tracking_out(item) for item in store.trackings(call.ids[0])]


def post_tracking(store: WooStore, call: Call) -> Response:
    get_order(store, call)
    body = call.body if isinstance(call.body, dict) else {}
    if not body.get("tracking_number"):
        raise ApiError(400, "rest_missing_callback_param",
                       "Missing parameter(s): tracking_number")
    item = store.add_tracking(call.ids[0], body)
    return JSONResponse(_tracking_out(item), status_code=201)


# -- index --------------------------------------------------------------------------------

def index(store: WooStore, call: Call) -> Json:
    return {"namespace": "wc/v3", "routes": {
        f"/wc/v3{t.removeprefix(WC)}": {"namespace": "wc/v3"} for _, _, t, _, _ in _routes()
        if t.startswith(WC)}}


def _routes() -> list[tuple[str, re.Pattern[str], str, Handler, bool]]:
    table: list[tuple[str, str, Handler, bool]] = [
        ("GET", WC, index, False),
        ("GET", f"{WC}/products", list_products, True),
        ("POST", f"{WC}/products/batch", batch_products, True),
        ("GET", f"{WC}/products/{{id}}", get_product, True),
        ("PUT", f"{WC}/products/{{id}}", put_product, True),
        ("DELETE", f"{WC}/products/{{id}}", delete_product, True),
        ("GET", f"{WC}/products/{{id}}/variations", list_variations, True),
        ("POST", f"{WC}/products/{{id}}/variations/batch", batch_variations, True),
        ("GET", f"{WC}/orders", list_orders, True),
        ("GET", f"{WC}/orders/{{id}}", get_order, True),
        ("PUT", f"{WC}/orders/{{id}}", put_order, True),
        ("DELETE", f"{WC}/orders/{{id}}", delete_order, True),
        ("GET", f"{WC}/orders/{{id}}/notes", list_notes, True),
        ("POST", f"{WC}/orders/{{id}}/notes", post_note, True),
        ("GET", f"{TRACKING}/orders/{{id}}/shipment-trackings", list_trackings, True),
        ("POST", f"{TRACKING}/orders/{{id}}/shipment-trackings", post_tracking, True),
    ]
    return [(method, re.compile(re.escape(template).replace(r"\{id\}", r"(\d+)")), template,
             handler, auth) for method, template, handler, auth in table]
