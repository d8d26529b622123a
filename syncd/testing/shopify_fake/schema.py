"""Finding and loading the Shopify Admin introspection schema (store-apis.md §0).

The 10 MB file is not shipped with the package. It is looked up at ``$SHOPIFY_ADMIN_SCHEMA``,
then ``../shared/data/shopify-admin-schema.json`` beside the repository. The schema fails
graphql-core's own schema-validation rule about deprecated interface fields (Shopify
deprecates some implementations only), so it is built with ``assume_valid=True``; documents
are still validated against it in full.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from graphql import GraphQLSchema, build_client_schema

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_NAME = "shopify-admin-schema.json"


def schema_path() -> Path | None:
    """Where the schema file is, or None when it cannot be found."""
    candidates = [os.environ.get("SHOPIFY_ADMIN_SCHEMA"),
                  str(REPO_ROOT.parent / "shared" / "data" / SCHEMA_NAME)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@functools.cache
def load_schema(path: Path | None = None) -> GraphQLSchema:
    """The Admin API schema (cached per process: it takes about half a second to build)."""
    path = path or schema_path()
    if path is None:
        raise FileNotFoundError(
            f"{SCHEMA_NAME} not found: set SHOPIFY_ADMIN_SCHEMA or put it in ../shared/data/"
        )
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return build_client_schema(data.get("data", data), assume_valid=True)
