"""The connector conformance kit against the WooCommerce connector, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from syncd.testing.conformance import ConformanceSuite, StoreHandle
from syncd.testing.server import ServerThread, serve_in_thread
from syncd.testing.woo_sim import WooHandle, WooStore, create_app


@pytest.fixture(scope="module")
def woo_server() -> Iterator[tuple[WooStore, ServerThread]]:
    store = WooStore()
    with serve_in_thread(create_app(store)) as server:
        yield store, server


@pytest.fixture
async def store_handle(woo_server: tuple[WooStore, ServerThread]) -> AsyncIterator[StoreHandle]:
    store, server = woo_server
    handle = WooHandle(store, server.url)
    yield handle
    await handle.aclose()


class TestWooCommerceConformance(ConformanceSuite):
    pass


@pytest.fixture
async def fallback_handle(
    woo_server: tuple[WooStore, ServerThread],
) -> AsyncIterator[StoreHandle]:
    """The same shop without the Shipment Tracking extension (meta-key fallback)."""
    store, server = woo_server
    store.shipment_tracking = False
    handle = WooHandle(store, server.url)
    yield handle
    store.shipment_tracking = True
    await handle.aclose()


class TestWooCommerceConformanceWithoutTrackingExtension(ConformanceSuite):
    """Every contract again with tracking written to order meta plus a customer note."""

    @pytest.fixture
    def store_handle(self, fallback_handle: StoreHandle) -> StoreHandle:
        return fallback_handle
