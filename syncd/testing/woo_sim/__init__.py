"""WooCommerce REST v3 simulator: stateful, thread-safe, served over HTTP or in-process.

    store = WooStore()
    pid = store.add_product("Shirt", "SKU-1", stock=5)
    with serve_in_thread(create_app(store)) as srv:
        httpx.get(f"{srv.url}/wp-json/wc/v3/products", auth=("ck_test", "cs_test"))

``WooHandle`` adapts it to the conformance kit's ``StoreHandle``.
"""

from syncd.testing.woo_sim.app import create_app
from syncd.testing.woo_sim.handle import KEY, SECRET, WooHandle
from syncd.testing.woo_sim.store import TRACKING_META_KEY, ApiKey, Email, WooStore
from syncd.testing.woo_sim.webhooks import deliver_pending, signature, signed_delivery

__all__ = [
    "KEY", "SECRET", "TRACKING_META_KEY", "ApiKey", "Email", "WooHandle", "WooStore",
    "create_app", "deliver_pending", "signature", "signed_delivery",
]
