"""The conformance kit against a real WooCommerce 11 shop, in HPOS and in legacy posts storage.

``tests/woo_server.py`` boots the shops; ``WooRestHandle`` seeds and inspects them over
the REST API; each test starts from the freshly installed shop (a database dump loaded).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from woo_server import STORAGES, WooShop, woo_shop

from syncd.testing.conformance import ConformanceSuite, SeedProduct, SeedVariant
from syncd.testing.woo_rest_handle import WooRestHandle

pytestmark = pytest.mark.woocommerce


@pytest.fixture(scope="session", params=STORAGES)
def woo(request: pytest.FixtureRequest) -> WooShop:
    return woo_shop(request, request.param)


@pytest.fixture
async def store_handle(woo: WooShop) -> AsyncIterator[WooRestHandle]:
    handle = WooRestHandle(woo.url, woo.key, woo.secret, reset=woo.reset)
    yield handle
    await handle.aclose()


class TestRealWooCommerceConformance(ConformanceSuite):
    """Every contract of the kit against the real shop (the kit resets it first)."""


async def test_storage_is_the_one_asked_for(woo: WooShop) -> None:
    """The fixture really runs both order storages (HPOS tables exist only with HPOS)."""
    with woo.client() as http:
        settings = http.get("/system_status").json()["settings"]
    assert settings["HPOS_enabled"] is (woo.storage == "hpos")
    tables = {row[0] for row in woo.sql("SHOW TABLES LIKE 'wp_wc_orders'")}
    assert tables == ({"wp_wc_orders"} if woo.storage == "hpos" else set())


async def test_reset_restores_the_fresh_shop(store_handle: WooRestHandle) -> None:
    await store_handle.reset()
    await store_handle.add_product(SeedProduct(name="Mug", sku="R-MUG", stock=2))
    assert await store_handle.stock_of("R-MUG") == 2
    await store_handle.reset()
    assert await store_handle.stock_of("R-MUG") is None
    assert await store_handle.call("GET", "/products") == []


async def test_variation_names_reach_the_connector_as_parent_and_value(
    store_handle: WooRestHandle,
) -> None:
    """WooCommerce names a variation by its attribute values only ("M"); myOGO needs the
    parent's name too."""
    await store_handle.reset()
    ids = await store_handle.add_product(SeedProduct(name="T-Shirt", variants=[
        SeedVariant(sku="TS-S", name="S"), SeedVariant(sku="TS-M", name="M")]))
    parent = (await store_handle.call("GET", f"/products/{ids[1]}"))["parent_id"]
    raw = await store_handle.call("GET", f"/products/{parent}/variations")
    assert sorted(v["name"] for v in raw) == ["M", "S"], \
        "the real shop names a variation by its attribute values only"
    connector = store_handle.connector()
    names = {p.store_id: p.name
             async for page in connector.changed_products(None) for p in page.items}
    assert names == {ids[0]: "T-Shirt - S", ids[1]: "T-Shirt - M"}


def test_missing_tools_skip_outside_ci_and_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """Without PHP/MariaDB/archives the real-shop tests skip naming what is missing, and
    with CI=true they fail instead (CI must run them)."""
    import woo_server

    monkeypatch.setattr(woo_server, "ARCHIVES", (tmp_path / "wordpress-7.1.0.tar.xz",))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception) as skipped:
        woo_server.require_tools()
    for needed in ("wordpress-7.1.0.tar.xz", "php", "mariadbd", "mariadb-dump"):
        assert needed in str(skipped.value)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        woo_server.require_tools()


def test_stale_workdirs_of_killed_sessions_are_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """A session killed before its cleanup leaves its ~280 MB tree; the next one deletes it,
    but never the tree of a session that is still alive."""
    import os
    import subprocess

    import woo_server

    monkeypatch.setattr(woo_server.tempfile, "gettempdir", lambda: str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale, live = tmp_path / "ogo-woo.stale", tmp_path / "ogo-woo.live"
    for work, owner in ((stale, gone.pid), (live, os.getppid())):
        (work / "wordpress").mkdir(parents=True)
        (work / "owner").write_text(str(owner))
    woo_server._remove_stale_workdirs()
    assert not stale.exists() and live.exists()
