"""Connector conformance kit: the same contract tests for every store connector."""

from syncd.testing.conformance.handle import (
    Fulfilment,
    SeedAddress,
    SeedOrder,
    SeedProduct,
    SeedVariant,
    StoreHandle,
)

__all__ = ["Fulfilment", "SeedAddress", "SeedOrder", "SeedProduct", "SeedVariant", "StoreHandle"]
