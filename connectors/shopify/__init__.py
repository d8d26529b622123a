"""Shopify store connector (Admin GraphQL API)."""

from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.settings import ShopifySettings

__all__ = ["ShopifyConnector", "ShopifySettings"]
