"""Finding and loading the Shopify Admin API (2026-04) introspection schema.

The schema ships with the package, xz-compressed (``shopify-admin-schema.json.xz``, 0.5 MB;
10 MB as JSON, byte for byte the file Shopify's introspection returned);
``$SHOPIFY_ADMIN_SCHEMA`` points at another one (plain, ``.xz`` or ``.gz``). A missing
schema is an error, never a reason to skip the Shopify tests. The schema fails
graphql-core's own schema-validation rule about deprecated interface fields (Shopify
deprecates some implementations only), so it is built with ``assume_valid=True``;
documents are still validated against it in full.
"""

from __future__ import annotations

import functools
import gzip
import json
import lzma
import os
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema, build_client_schema

SCHEMA_NAME = "shopify-admin-schema.json"
PACKAGED = Path(__file__).with_name(SCHEMA_NAME + ".xz")
_OPENERS: dict[str, Any] = {".xz": lzma.open, ".gz": gzip.open}


def schema_path() -> Path | None:
    """Where the schema file is, or None when it cannot be found."""
    for candidate in (os.environ.get("SHOPIFY_ADMIN_SCHEMA"), str(PACKAGED)):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def read_introspection(path: Path | None = None) -> dict[str, Any]:
    """The introspection result (``{"__schema": ...}``) from ``path`` or :func:`schema_path`."""
    path = path or schema_path()
    if path is None:
        raise FileNotFoundError(f"{PACKAGED} is missing (it ships with ogo-syncd) and "
                                "SHOPIFY_ADMIN_SCHEMA names no file")
    opener = _OPENERS.get(path.suffix, open)
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    return data.get("data", data)


@functools.cache
def load_schema(path: Path | None = None) -> GraphQLSchema:
    """The Admin API schema (cached per process: it takes about half a second to build)."""
    return build_client_schema(read_introspection(path), assume_valid=True)
