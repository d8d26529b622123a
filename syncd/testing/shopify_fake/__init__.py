"""A stateful fake of the Shopify Admin GraphQL API, and its conformance-kit handle."""

from syncd.testing.shopify_fake.app import DEFAULT_TOKEN, RequestRecord, ShopifyFake
from syncd.testing.shopify_fake.schema import load_schema, read_introspection, schema_path

__all__ = ["DEFAULT_TOKEN", "RequestRecord", "ShopifyFake", "load_schema", "read_introspection",
           "schema_path"]
