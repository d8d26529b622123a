"""The connector scaffold end to end, as a third-party author would use it.

``ogo-syncd new-connector filestore`` -> fill in the skeleton (a shop kept in one JSON file:
products, orders, stock, fulfilments) -> ``pip install`` -> ``ogo-syncd connectors`` lists it
-> the scaffolded package's own conformance test passes every contract.

The package is pip-installed into a private ``--target`` directory put on ``PYTHONPATH`` of
the subprocesses, not into the shared virtualenv: other test runs on the same environment
must never see a half-installed connector, and a crash here leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from syncd.testing.conformance import ConformanceSuite

PYTHON = sys.executable

# The scaffold's connector.py, filled in: the class names are the scaffold's own, so its
# __init__.py and entry point are used unchanged.
CONNECTOR = textwrap.dedent('''\
    """The filestore connector: a shop kept in one JSON file.

    The file holds ``products`` and ``orders`` (by id), ``stock`` (by SKU), ``fulfilments``
    and ``notifications`` (by order id), the accepted ``api_keys`` and ``seq``, a counter
    bumped on every change and stamped on the changed record. Cursors are that counter:
    exact, so no look-back overlap is needed.
    """

    from __future__ import annotations

    import json
    import os
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence
    from pathlib import Path
    from typing import Any, ClassVar

    import httpx
    from pydantic import Field, SecretStr

    from syncd.connector import Capability, ConnectorSettings, StoreConnector
    from syncd.errors import AuthError, ConfigError
    from syncd.model import (
        Address, ItemResult, Order, OrderLine, OrderRef, Page, Product, Shipment, StockLevel,
    )

    Row = dict[str, Any]


    def load_store(path: str | Path) -> dict[str, Any]:
        return json.loads(Path(path).read_text(encoding="utf-8"))


    def save_store(path: str | Path, data: dict[str, Any]) -> None:
        """Write atomically: a crash leaves the old file or the new one, never half."""
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)


    def stamp(data: dict[str, Any], record: Row) -> None:
        data["seq"] += 1
        record["seq"] = data["seq"]


    class FilestoreSettings(ConnectorSettings):
        """The store's ``[stores.options]`` table; unknown keys are errors."""

        path: str
        api_key: SecretStr
        page_size: int = Field(default=100, ge=1, le=250)


    class FilestoreConnector(StoreConnector):
        name: ClassVar[str] = "filestore"
        Settings: ClassVar[type[FilestoreSettings]] = FilestoreSettings
        capabilities: ClassVar[frozenset[Capability]] = frozenset({
            Capability.PRODUCTS, Capability.ORDERS, Capability.STOCK, Capability.STOCK_LEVELS,
            Capability.TRACKING, Capability.CANCELLATIONS,
        })
        settings: FilestoreSettings

        def __init__(self, settings: FilestoreSettings, http: httpx.AsyncClient) -> None:
            super().__init__(settings, http)

        def _read(self) -> dict[str, Any]:
            try:
                return load_store(self.settings.path)
            except FileNotFoundError:
                raise ConfigError(f"the store file {self.settings.path} does not exist",
                                  key="path") from None

        async def check(self) -> None:
            if self.settings.api_key.get_secret_value() not in self._read()["api_keys"]:
                raise AuthError("the store refused the API key; copy one of the store's "
                                "keys into options.api_key", key="api_key")

        async def _changed(self, table: str, cursor: str | None,
                           wanted: Callable[[Row], bool]) -> AsyncIterator[tuple[list[Row], str]]:
            after = int(cursor or 0)
            size = self.settings.page_size
            while True:
                rows = sorted((r for r in self._read()[table].values()
                               if r["seq"] > after and wanted(r)), key=lambda r: r["seq"])
                page = rows[:size]
                if not page:
                    return
                after = page[-1]["seq"]
                yield page, str(after)
                if len(page) < size:
                    return

        async def changed_products(self, cursor: str | None) -> AsyncIterator[Page[Product]]:
            async for rows, after in self._changed("products", cursor,
                                                   lambda r: not r["variable"]):
                yield Page([Product(store_id=r["id"], sku=r["sku"], name=r["name"],
                                    ean=r["ean"], price=r["price"], parent_id=r["parent_id"])
                            for r in rows], after)

        async def paid_orders(self, cursor: str | None) -> AsyncIterator[Page[Order]]:
            async for rows, after in self._changed("orders", cursor, lambda r: r["paid"]):
                yield Page([Order(
                    store_id=r["id"], number=r["number"], address=Address(**r["address"]),
                    lines=tuple(OrderLine(sku=sku, quantity=qty) for sku, qty in r["lines"]),
                    shipping_method=r["shipping_method"]) for r in rows], after)

        async def cancelled_orders(self, cursor: str | None) -> AsyncIterator[Page[OrderRef]]:
            async for rows, after in self._changed("orders", cursor,
                                                   lambda r: r["status"] == "cancelled"):
                yield Page([OrderRef(store_id=r["id"], number=r["number"]) for r in rows],
                           after)

        async def set_stock(self, levels: Sequence[StockLevel]) -> Sequence[ItemResult]:
            results: list[ItemResult] = []
            size = self.settings.page_size
            for start in range(0, len(levels), size):          # one write per batch
                data = self._read()
                known = {r["sku"] for r in data["products"].values() if r["sku"]}
                for level in levels[start:start + size]:
                    if level.sku in known:
                        data["stock"][level.sku] = level.quantity
                        results.append(ItemResult(key=level.sku, ok=True))
                    else:
                        results.append(ItemResult(key=level.sku, ok=False,
                                                  error="no product has this SKU"))
                save_store(self.settings.path, data)
            return results

        async def stock_levels(self, skus: Sequence[str]) -> Mapping[str, int | None]:
            data = self._read()
            known = {r["sku"] for r in data["products"].values() if r["sku"]}
            return {sku: data["stock"].get(sku) for sku in skus if sku in known}

        async def mark_shipped(self, shipment: Shipment) -> None:
            data = self._read()
            order = data["orders"][shipment.store_order_id]
            done = data["fulfilments"].setdefault(order["id"], [])
            if any(set(f["tracking_numbers"]) == set(shipment.tracking_numbers) for f in done):
                return                                          # already recorded: no-op
            done.append({"tracking_numbers": list(shipment.tracking_numbers),
                         "tracking_url": shipment.tracking_url})
            order["status"] = "shipped"
            if shipment.notify_customer:
                data["notifications"][order["id"]] = data["notifications"].get(order["id"], 0) + 1
            stamp(data, order)
            save_store(self.settings.path, data)
    ''')

# The scaffold's tests/test_conformance.py with its StoreHandle filled in.
CONFORMANCE_TEST = textwrap.dedent('''\
    """The conformance kit against the filestore connector (a JSON file per test)."""

    from __future__ import annotations

    from collections.abc import AsyncIterator, Callable
    from pathlib import Path
    from typing import Any

    import httpx
    import pytest

    from syncd.testing.conformance import (
        ConformanceSuite, Fulfilment, SeedOrder, SeedProduct, StoreHandle,
    )
    from syncd_filestore import FilestoreConnector, FilestoreSettings
    from syncd_filestore.connector import load_store, save_store, stamp

    KEY = "fs-test-key-1"


    class FilestoreHandle:
        """Seeds and inspects the JSON file directly (never through the connector)."""

        shipping_method = "pickup-point"

        def __init__(self, path: Path) -> None:
            self.path = path
            self._clients: list[httpx.AsyncClient] = []

        def _change(self, edit: Callable[[dict[str, Any]], Any]) -> Any:
            data = load_store(self.path)
            out = edit(data)
            save_store(self.path, data)
            return out

        @staticmethod
        def _new_id(data: dict[str, Any]) -> str:
            data["next_id"] += 1
            return str(data["next_id"])

        async def reset(self) -> None:
            save_store(self.path, {"seq": 0, "next_id": 100, "api_keys": [KEY],
                                   "products": {}, "orders": {}, "stock": {},
                                   "fulfilments": {}, "notifications": {}})

        async def add_product(self, product: SeedProduct) -> list[str]:
            def edit(data: dict[str, Any]) -> list[str]:
                def put(sku: str | None, name: str, price: str, ean: str | None, stock: int,
                        parent: str | None, variable: bool = False) -> str:
                    record = {"id": self._new_id(data), "sku": sku, "name": name,
                              "price": price, "ean": ean, "parent_id": parent,
                              "variable": variable}
                    stamp(data, record)
                    data["products"][record["id"]] = record
                    if sku and not variable:
                        data["stock"][sku] = stock
                    return str(record["id"])

                if not product.variants:
                    return [put(product.sku, product.name, product.price, product.ean,
                                product.stock, None)]
                parent = put(None, product.name, product.price, None, 0, None, True)
                return [put(v.sku, f"{product.name} - {v.name}", v.price, v.ean, v.stock,
                            parent) for v in product.variants]
            return self._change(edit)

        async def update_product_name(self, store_id: str, name: str) -> None:
            def edit(data: dict[str, Any]) -> None:
                data["products"][store_id]["name"] = name
                stamp(data, data["products"][store_id])
            self._change(edit)

        async def add_order(self, order: SeedOrder) -> str:
            def edit(data: dict[str, Any]) -> str:
                a = order.address
                record = {"id": self._new_id(data), "paid": order.paid, "status": "open",
                          "lines": [list(line) for line in order.lines],
                          "shipping_method": order.shipping_method or self.shipping_method,
                          "address": {"name": a.name, "address1": a.address1, "city": a.city,
                                      "zip": a.zip, "country_code": a.country_code,
                                      "email": a.email, "phone": a.phone}}
                record["number"] = f"FS{record['id']}"
                stamp(data, record)
                data["orders"][record["id"]] = record
                return str(record["id"])
            return self._change(edit)

        def _set_order(self, store_id: str, **changes: Any) -> None:
            def edit(data: dict[str, Any]) -> None:
                data["orders"][store_id].update(changes)
                stamp(data, data["orders"][store_id])
            self._change(edit)

        async def pay_order(self, store_id: str) -> None:
            self._set_order(store_id, paid=True)

        async def cancel_order(self, store_id: str) -> None:
            self._set_order(store_id, status="cancelled")

        async def stock_of(self, sku: str) -> int | None:
            return load_store(self.path)["stock"].get(sku)

        async def fulfilments(self, store_id: str) -> list[Fulfilment]:
            return [Fulfilment(tuple(f["tracking_numbers"]), f["tracking_url"])
                    for f in load_store(self.path)["fulfilments"].get(store_id, [])]

        async def customer_notifications(self, store_id: str) -> int:
            return int(load_store(self.path)["notifications"].get(store_id, 0))

        async def is_shipped(self, store_id: str) -> bool:
            return bool(load_store(self.path)["orders"][store_id]["status"] == "shipped")

        def settings(self, **overrides: object) -> FilestoreSettings:
            fields: dict[str, object] = {"path": str(self.path), "api_key": KEY}
            fields.update(overrides)
            return FilestoreSettings(**fields)  # type: ignore[arg-type]

        def connector(self, **overrides: object) -> FilestoreConnector:
            http = httpx.AsyncClient(timeout=30)
            self._clients.append(http)
            return FilestoreConnector(self.settings(**overrides), http)

        def bad_credentials_settings(self) -> FilestoreSettings:
            return self.settings(api_key="wrong-key-987")

        async def aclose(self) -> None:
            for http in self._clients:
                await http.aclose()
            self._clients.clear()


    @pytest.fixture
    async def store_handle(tmp_path: Path) -> AsyncIterator[StoreHandle]:
        handle = FilestoreHandle(tmp_path / "store.json")
        yield handle
        await handle.aclose()


    class TestFilestoreConformance(ConformanceSuite):
        pass
    ''')

CAPABILITIES = ["cancellations", "orders", "products", "stock", "stock_levels", "tracking"]


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def pytest_counts(summary: str) -> dict[str, int]:
    """``{"passed": 10, ...}`` from pytest's last line (``10 passed, 1 warning in 2.1s``)."""
    last = [line for line in summary.strip().splitlines() if line.strip()][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


def test_scaffolded_connector_installs_lists_and_passes_the_kit(tmp_path: Path) -> None:
    created = run(PYTHON, "-m", "syncd", "new-connector", "filestore", "--dir", str(tmp_path))
    root = tmp_path / "syncd-filestore"
    assert str(root) in created.stdout.replace("\n", "")
    module = root / "syncd_filestore" / "connector.py"
    test_file = root / "tests" / "test_conformance.py"
    # the skeleton is what we fill in: same class names, TODOs where the work is
    skeleton = module.read_text()
    assert "class FilestoreSettings(ConnectorSettings)" in skeleton and "TODO" in skeleton
    assert "class TestFilestoreConformance(ConformanceSuite)" in test_file.read_text()
    module.write_text(CONNECTOR)
    test_file.write_text(CONFORMANCE_TEST)

    site = tmp_path / "site"
    run(PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input",
        "--disable-pip-version-check", "--target", str(site), str(root), timeout=120)
    assert list(site.glob("syncd_filestore-0.1.0.dist-info"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PYTEST_ADDOPTS", None)

    # -P: the cwd is not on sys.path, so the *installed* package is what gets imported
    before = json.loads(run(PYTHON, "-P", "-m", "syncd", "connectors", "--json").stdout)
    assert "filestore" not in before
    listed = json.loads(run(PYTHON, "-P", "-m", "syncd", "connectors", "--json",
                            env=env).stdout)
    assert listed["filestore"] == CAPABILITIES
    assert listed["woocommerce"]       # the built-ins are still there
    table = run(PYTHON, "-P", "-m", "syncd", "connectors", env=env).stdout
    assert "syncd_filestore.connector" in table
    where = run(PYTHON, "-P", "-c", "import syncd_filestore; print(syncd_filestore.__file__)",
                cwd=root, env=env).stdout.strip()
    assert Path(where).is_relative_to(site)

    kit = subprocess.run(
        [PYTHON, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs",
         "--basetemp", str(tmp_path / "kit-tmp")],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL)
    counts = pytest_counts(kit.stdout)
    assert kit.returncode == 0, kit.stdout[-4000:] + kit.stderr[-2000:]
    contracts = [name for name in dir(ConformanceSuite) if name.startswith("test_")]
    assert counts.get("passed") == len(contracts), kit.stdout[-4000:]
    for bad in ("failed", "error", "errors", "skipped", "xfailed"):
        assert counts.get(bad, 0) == 0, kit.stdout[-4000:]
