"""Connector conformance kit: the same contract tests for every store connector.

How to use it for a connector (pytest-asyncio in ``asyncio_mode = "auto"``):

1. Write a ``StoreHandle`` (``syncd.testing.conformance.handle``) that seeds and inspects a
   test store directly (a simulator's Python API or the store's own admin API).
2. In the test module (or a conftest) define ONE fixture named ``store_handle`` returning
   it (async fixtures are fine), and subclass the suite::

       from syncd.testing.conformance import ConformanceSuite

       @pytest.fixture
       def store_handle(woo_server) -> StoreHandle:
           return WooHandle(woo_server.store, woo_server.url)

       class TestWooCommerceConformance(ConformanceSuite):
           pass

The kit resets the store before each contract test. Contracts for capabilities the
connector does not declare are skipped with the reason. ``handle.connector(page_size=N)``
must give a connector reading N items per request (and writing at most N per batch); a
connector whose setting has another name translates it in its handle.

``ConformanceSuite`` is imported on first use: the handle types are needed by the
simulators (and so by ``ogo-syncd demo``) in an install without pytest, the suite is not.
"""

from typing import TYPE_CHECKING, Any

from syncd.testing.conformance.handle import (
    Fulfilment,
    SeedAddress,
    SeedOrder,
    SeedProduct,
    SeedVariant,
    StoreHandle,
)

if TYPE_CHECKING:
    from syncd.testing.conformance.suite import ConformanceSuite

__all__ = [
    "ConformanceSuite", "Fulfilment", "SeedAddress", "SeedOrder", "SeedProduct", "SeedVariant",
    "StoreHandle",
]


def __getattr__(name: str) -> Any:
    if name == "ConformanceSuite":
        from syncd.testing.conformance.suite import ConformanceSuite

        return ConformanceSuite
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
