"""The four flows, one module each: products, orders (incl. cancellations), stock, tracking."""
