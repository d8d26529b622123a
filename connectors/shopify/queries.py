"""Every GraphQL document the Shopify connector sends (validated by tests/test_shopify_schema.py).

Keep each operation here as a module-level constant and list it in ``ALL_DOCUMENTS``:
the schema test validates every one against the Admin API introspection schema, and checks
that a full run sends nothing that is not listed here.
"""

from __future__ import annotations

_VARIANT_FIELDS = """
      id sku barcode price title updatedAt
      media(first: 1) { nodes { preview { image { url } } } }
      product {
        id title description descriptionHtml updatedAt hasOnlyDefaultVariant
        featuredMedia { preview { image { url } } }
      }
"""

_LINE_FIELDS = """
          sku name currentQuantity requiresShipping
          originalUnitPriceSet { shopMoney { amount } }
"""

CHECK = """
query Check($locationId: ID!, $withLocation: Boolean!) {
  shop { name currencyCode }
  currentAppInstallation { accessScopes { handle } }
  location(id: $locationId) @include(if: $withLocation) { id name isActive }
}
"""

CHANGED_VARIANTS = f"""
query ChangedVariants($first: Int!, $after: String, $query: String) {{
  shop {{ currencyCode }}
  productVariants(first: $first, after: $after, query: $query, sortKey: ID) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{{_VARIANT_FIELDS}    }}
  }}
}}
"""

CHANGED_PRODUCTS = """
query ChangedProducts($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { id updatedAt }
  }
}
"""

ORDERS = f"""
query Orders($first: Int!, $after: String, $query: String!, $lines: Int!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id name email phone note createdAt updatedAt
      totalPriceSet {{ shopMoney {{ amount currencyCode }} }}
      shippingAddress {{
        name firstName lastName company address1 address2 city zip countryCodeV2 phone
      }}
      shippingLine {{ code title }}
      lineItems(first: $lines) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{{_LINE_FIELDS}        }}
      }}
    }}
  }}
}}
"""

ORDER_LINES = f"""
query OrderLines($id: ID!, $after: String) {{
  order(id: $id) {{
    lineItems(first: 100, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{{_LINE_FIELDS}      }}
    }}
  }}
}}
"""

CANCELLED_ORDERS = """
query CancelledOrders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { id name updatedAt cancelledAt }
  }
}
"""

INVENTORY_ITEMS_BY_SKU = """
query InventoryItemsBySku($first: Int!, $after: String, $query: String!) {
  productVariants(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes { sku inventoryItem { id } }
  }
}
"""

SET_STOCK = """
mutation SetStock($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""

FULFILLMENT_STATE = """
query FulfillmentState($id: ID!) {
  order(id: $id) {
    id name
    fulfillments(first: 20) { id status trackingInfo(first: 5) { number } }
    fulfillmentOrders(first: 10) {
      nodes {
        id status
        assignedLocation { location { id } }
        lineItems(first: 20) { pageInfo { hasNextPage } nodes { remainingQuantity } }
      }
    }
  }
}
"""

FULFILLMENT_CREATE = """
mutation FulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}
"""

TRACKING_UPDATE = """
mutation TrackingUpdate($id: ID!, $tracking: FulfillmentTrackingInput!, $notify: Boolean) {
  fulfillmentTrackingInfoUpdate(fulfillmentId: $id, trackingInfoInput: $tracking,
                                notifyCustomer: $notify) {
    fulfillment { id }
    userErrors { field message }
  }
}
"""

ALL_DOCUMENTS: dict[str, str] = {
    "Check": CHECK,
    "ChangedVariants": CHANGED_VARIANTS,
    "ChangedProducts": CHANGED_PRODUCTS,
    "Orders": ORDERS,
    "OrderLines": ORDER_LINES,
    "CancelledOrders": CANCELLED_ORDERS,
    "InventoryItemsBySku": INVENTORY_ITEMS_BY_SKU,
    "SetStock": SET_STOCK,
    "FulfillmentState": FULFILLMENT_STATE,
    "FulfillmentCreate": FULFILLMENT_CREATE,
    "TrackingUpdate": TRACKING_UPDATE,
}
