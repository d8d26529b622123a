"""GraphQL documents of the Vendure connector (Admin API, Vendure 2.x/3.x).

Union-typed mutations always select ``... on ErrorResult { errorCode message }``: Vendure
reports their failures as data, not as GraphQL errors.
"""

from __future__ import annotations


def variant_list(ean_field: str | None) -> str:
    """The changed-variants query; ``ean_field`` is a validated GraphQL name or None."""
    custom = f"customFields {{ {ean_field} }}" if ean_field else ""
    return f"""
query ChangedVariants($options: ProductVariantListOptions) {{
  productVariants(options: $options) {{
    items {{
      id sku name updatedAt priceWithTax currencyCode
      featuredAsset {{ preview }}
      product {{ id description featuredAsset {{ preview }} }}
      {custom}
    }}
  }}
}}
"""


ORDER_LIST = """
query PaidOrders($options: OrderListOptions) {
  orders(options: $options) {
    items {
      id code state updatedAt orderPlacedAt currencyCode totalWithTax
      customer { emailAddress phoneNumber }
      shippingAddress {
        fullName company streetLine1 streetLine2 city province postalCode countryCode phoneNumber
      }
      lines { quantity unitPriceWithTax taxRate productVariant { sku name } }
      shippingLines { shippingMethod { code } }
    }
  }
}
"""

ORDER_REF_LIST = """
query CancelledOrders($options: OrderListOptions) {
  orders(options: $options) { items { id code state updatedAt } }
}
"""

VARIANTS_BY_SKU = """
query VariantsBySku($options: ProductVariantListOptions) {
  productVariants(options: $options) { items { id sku } }
}
"""

VARIANT_STOCK_BY_SKU = """
query VariantStockBySku($options: ProductVariantListOptions) {
  productVariants(options: $options) {
    items { id sku trackInventory stockOnHand stockLevels { stockLocationId stockOnHand } }
  }
}
"""

UPDATE_VARIANTS = """
mutation SetStock($input: [UpdateProductVariantInput!]!) {
  updateProductVariants(input: $input) { id sku stockOnHand }
}
"""

ORDER_FULFILMENTS = """
query OrderFulfilments($id: ID!) {
  order(id: $id) {
    id code state
    lines { id quantity }
    fulfillments { id state method trackingCode lines { orderLineId quantity } }
  }
}
"""

ADD_FULFILMENT = """
mutation AddFulfilment($input: FulfillOrderInput!) {
  addFulfillmentToOrder(input: $input) {
    ... on Fulfillment { id state trackingCode }
    ... on ErrorResult { errorCode message }
  }
}
"""

TRANSITION_FULFILMENT = """
mutation ShipFulfilment($id: ID!, $state: String!) {
  transitionFulfillmentToState(id: $id, state: $state) {
    ... on Fulfillment { id state }
    ... on ErrorResult { errorCode message }
  }
}
"""

WHO_AM_I = """
query WhoAmI {
  activeChannel { id code token }
  me { identifier channels { token permissions } }
}
"""
