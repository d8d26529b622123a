"""WooCommerce connector (REST API v3). See docs/connectors/woocommerce.md."""

from connectors.woocommerce.connector import WooCommerceConnector
from connectors.woocommerce.settings import WooCommerceSettings

__all__ = ["WooCommerceConnector", "WooCommerceSettings"]
