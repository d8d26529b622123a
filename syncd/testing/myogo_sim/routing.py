"""A tiny case-insensitive router (Starlette's is case-sensitive; myOGO's paths are not).

Paths are matched on the raw, still percent-encoded path so that a product code holding
"%2F" stays one segment; captured parameters are decoded afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from syncd.testing.myogo_sim.auth import Grant
from syncd.testing.myogo_sim.errors import ApiFailure
from syncd.testing.myogo_sim.wire import Query, normalize_keys


@dataclass
class Call:
    """One request as a handler sees it: path parameters, query, body, credentials."""

    request: Request
    params: dict[str, str]
    query: Query
    body: bytes
    grant: Grant | None = None

    def json(self) -> Any:
        """The body as JSON with keys in wire casing; 400 when missing or malformed."""
        if not self.body.strip():
            raise ApiFailure(400, "A non-empty request body is required.")
        try:
            return normalize_keys(json.loads(self.body))
        except ValueError as exc:
            raise ApiFailure(400, f"The request body is not valid JSON: {exc}") from None

    def object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise ApiFailure(400, "The request body must be a JSON object.")
        return data


Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Route:
    """``method template`` -> handler; ``scope`` is the OAuth scope an API route needs."""

    method: str
    template: str
    handler: Handler
    kind: str = "api"          # "api" | "token" | "control"
    scope: str | None = None
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}/?$", re.IGNORECASE))

    @property
    def name(self) -> str:
        """The key used in request counts, e.g. "PUT /api/v1/orders/{reference}"."""
        return f"{self.method} {self.template}"


def raw_path(scope: dict[str, Any]) -> str:
    raw = scope.get("raw_path")
    if raw:
        return raw.decode("utf-8", "replace").split("?", 1)[0]
    return str(scope["path"])


def resolve(routes: list[Route], method: str,
            path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, decoded params, path_known). ``path_known`` without a route means 405."""
    path_known = False
    for route in routes:
        found = route.pattern.match(path)
        if found is None:
            continue
        path_known = True
        if route.method == method:
            return route, {k: unquote(v) for k, v in found.groupdict().items()}, True
    return None, {}, path_known


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact JSON (``None`` becomes the literal ``null``)."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)
