"""Every GraphQL document the Shopify connector sends validates against the 2026-04 schema.

The schema is Shopify's introspection JSON, shipped xz-compressed with the fake
(``syncd/testing/shopify_fake/shopify-admin-schema.json.xz``). It is built with
``assume_valid=True`` because the file itself breaks one of graphql-core's *schema* rules
(a few implementation fields are deprecated while the interface field is not); documents
are still fully validated.
"""

from __future__ import annotations

from pathlib import Path

import graphql
import httpx
import pytest

from connectors.shopify import ShopifyConnector, ShopifySettings, queries
from syncd.model import Shipment, StockLevel
from syncd.testing.shopify_fake import (
    DEFAULT_TOKEN,
    ShopifyFake,
    read_introspection,
    schema_path,
)
from syncd.testing.shopify_fake import schema as schema_module


@pytest.fixture(scope="module")
def schema() -> graphql.GraphQLSchema:
    return graphql.build_client_schema(read_introspection(), assume_valid=True)


def test_schema_is_the_pinned_version_and_knows_idempotent(schema: graphql.GraphQLSchema) -> None:
    """``@idempotent(key:)`` is in the file, so SetStock is validated *with* the directive."""
    directive = schema.get_directive("idempotent")
    assert directive is not None and "key" in directive.args
    assert ShopifySettings(shop="x", access_token="t").api_version == "2026-04"


@pytest.mark.parametrize("name", sorted(queries.ALL_DOCUMENTS))
def test_document_validates(schema: graphql.GraphQLSchema, name: str) -> None:
    document = graphql.parse(queries.ALL_DOCUMENTS[name])
    assert graphql.validate(schema, document) == []
    operations = [d for d in document.definitions
                  if isinstance(d, graphql.OperationDefinitionNode)]
    assert [op.name.value for op in operations] == [name]


def test_every_document_constant_is_listed() -> None:
    """A new query constant cannot skip validation by being left out of ALL_DOCUMENTS."""
    constants = {
        value for key, value in vars(queries).items()
        if key.isupper() and isinstance(value, str)
        and value.lstrip().startswith(("query", "mutation"))
    }
    assert constants == set(queries.ALL_DOCUMENTS.values())


async def test_a_full_run_sends_only_validated_documents() -> None:
    """Drive every connector method against the fake; record what it received."""
    assert schema_path() is not None
    fake = ShopifyFake()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        fake.clock.advance(seconds)

    settings = ShopifySettings(shop="https://fake.myshopify.com", access_token=DEFAULT_TOKEN,
                               location_id=fake.location_id, webhook_secret="s")
    fake.clock.advance(-3600)
    fake.add_product("Tee", variants=[{"title": "Red", "sku": "TEE-R"}])
    for i in range(30):
        fake.add_product(f"P{i}", sku=f"S{i}")
    many = fake.add_order([(f"S{i}", 1) for i in range(30)])   # > 25 lines: OrderLines
    by_hand = fake.add_order([("TEE-R", 1)])
    fake.fulfil_by_hand(by_hand)                                 # tracking added later
    cancelled = fake.add_order([("S1", 1)])
    fake.cancel_order(cancelled)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as http:
        first = ShopifyConnector(settings, http, sleep=sleep, clock=fake.clock.monotonic)
        await first.check()
        cursor = None
        async for page in first.changed_products(None):
            cursor = page.cursor
        fake.clock.advance(3600)
        fake.update_product(fake.product_of(fake.add_product("Cap", sku="CAP")[0]).id,
                            title="Hat")
        renamed = [p async for page in first.changed_products(cursor)  # products phase
                   for p in page.items]
        orders = [o async for page in first.paid_orders(None) for o in page.items]
        refs = [r async for page in first.cancelled_orders(None) for r in page.items]
        results = await first.set_stock([StockLevel(sku="TEE-R", quantity=3)])
        await first.mark_shipped(Shipment(store_order_id=many, order_number="1",
                                          tracking_numbers=("T1",)))
        await first.mark_shipped(Shipment(store_order_id=by_hand, order_number="2",
                                          tracking_numbers=("T2",)))
    assert "Hat" in {p.name for p in renamed}
    assert [o.store_id for o in orders] == [many]
    assert [r.store_id for r in refs] == [cancelled]
    assert results[0].ok
    assert fake.documents == set(queries.ALL_DOCUMENTS.values())
    assert all(r.status == 200 for r in fake.requests)
    assert set(fake.calls) == set(queries.ALL_DOCUMENTS)



def test_the_schema_ships_in_the_repo_and_a_missing_one_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain clone has the schema; without it the Shopify tests error, never skip."""
    monkeypatch.delenv("SHOPIFY_ADMIN_SCHEMA", raising=False)
    assert schema_path() == schema_module.PACKAGED
    assert schema_module.PACKAGED.name.endswith(".json.xz")
    assert schema_module.PACKAGED.stat().st_size < 1_000_000
    assert read_introspection()["__schema"]["queryType"]["name"] == "QueryRoot"
    monkeypatch.setattr(schema_module, "PACKAGED", Path("/nonexistent/schema.json.xz"))
    with pytest.raises(FileNotFoundError, match="SHOPIFY_ADMIN_SCHEMA"):
        read_introspection()
    for name in ("test_shopify.py", "test_conformance_shopify.py"):
        assert "skip" not in (Path(__file__).parent / name).read_text()
