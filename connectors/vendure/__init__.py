"""Vendure store connector (Admin GraphQL API). See docs/connectors/vendure.md."""

from connectors.vendure.connector import VendureConnector
from connectors.vendure.settings import VendureSettings

__all__ = ["VendureConnector", "VendureSettings"]
