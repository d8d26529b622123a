"""Scaffold a pip-installable store connector package wired to the conformance kit.

``create_connector("mystore", Path("."))`` (or ``ogo-syncd new-connector mystore --dir .``)
writes ``./syncd-mystore/`` with a pyproject declaring the ``syncd.connectors`` entry point,
a connector skeleton, and a conformance test with a ``StoreHandle`` skeleton whose fixture
closes what the handle opened. See docs/writing-a-connector.md; tests/test_scaffold_e2e.py
fills one in as a JSON-file store, installs it with pip and runs its conformance test.
"""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
NAME_RULE = ("a connector name is letters, digits, '_' or '-', starting with a letter, "
             "at most 40 characters (e.g. 'acme_store' or 'acme-store')")


def normalise_name(name: str) -> str:
    """The connector name for ``name``: lower case, '-' read as '_' (``acme-store`` ->
    ``acme_store``, package ``syncd_acme_store``); ValueError with the rule otherwise."""
    normal = name.strip().lower().replace("-", "_")
    if not _NAME.match(normal):
        raise ValueError(f"{name!r} cannot be a connector name: {NAME_RULE}")
    return normal


def _files(name: str) -> dict[str, str]:
    package = f"syncd_{name}"
    title = name.replace("_", " ").title().replace(" ", "")
    return {
        "pyproject.toml": f'''[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "syncd-{name.replace("_", "-")}"
version = "0.1.0"
description = "ogo-syncd store connector for {name}"
requires-python = ">=3.11"
dependencies = ["ogo-syncd"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.23"]

[project.entry-points."syncd.connectors"]
{name} = "{package}:{title}Connector"

[tool.setuptools.packages.find]
include = ["{package}*"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
testpaths = ["tests"]
''',
        f"{package}/__init__.py": f'''"""ogo-syncd connector for {name}."""

from {package}.connector import {title}Connector, {title}Settings

__all__ = ["{title}Connector", "{title}Settings"]
''',
        f"{package}/connector.py": f'''"""The {name} store connector.

Fill in the TODOs; docs/writing-a-connector.md in ogo-syncd walks through them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import ClassVar

import httpx
from pydantic import Field, SecretStr

from syncd.connector import Capability, ConnectorSettings, StoreConnector
from syncd.errors import AuthError, ConfigError, DataError, TransientError  # noqa: F401
from syncd.model import ItemResult, Order, OrderRef, Page, Product, Shipment, StockLevel

# Classify errors once, where you talk to the store: refused credentials -> AuthError,
# other setup problems -> ConfigError, 429/5xx/network -> TransientError, one bad item ->
# DataError (or an ItemResult with ok=False). No message may contain a secret.


class {title}Settings(ConnectorSettings):
    """The store's ``[stores.options]`` table; unknown keys are errors."""

    url: str
    api_key: SecretStr
    page_size: int = Field(default=100, ge=1, le=250)   # the kit sets it small
    allow_http: bool = False


class {title}Connector(StoreConnector):
    name: ClassVar[str] = "{name}"
    Settings: ClassVar[type[{title}Settings]] = {title}Settings
    #: declare only what is implemented: the kit skips contracts for the rest
    capabilities: ClassVar[frozenset[Capability]] = frozenset({{
        Capability.PRODUCTS, Capability.ORDERS, Capability.STOCK, Capability.STOCK_LEVELS,
        Capability.TRACKING, Capability.CANCELLATIONS,
    }})
    settings: {title}Settings

    def __init__(self, settings: {title}Settings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)

    async def check(self) -> None:
        # TODO: one cheap authenticated request; raise AuthError/ConfigError with a hint
        raise NotImplementedError

    # Reads are async generators of Page(items, cursor): ``cursor`` (yours, opaque) must
    # resume *after* that page in a new process; None passed in = from the beginning.
    # Read ``self.settings.page_size`` items per request.

    async def changed_products(self, cursor: str | None) -> AsyncIterator[Page[Product]]:
        # TODO: page through products changed after ``cursor``; every sellable SKU once
        # (a variant is its own Product with parent_id; a product without SKU has sku=None)
        raise NotImplementedError
        yield  # pragma: no cover - makes this an async generator

    async def paid_orders(self, cursor: str | None) -> AsyncIterator[Page[Order]]:
        raise NotImplementedError  # TODO
        yield  # pragma: no cover

    async def cancelled_orders(self, cursor: str | None) -> AsyncIterator[Page[OrderRef]]:
        raise NotImplementedError  # TODO
        yield  # pragma: no cover

    async def set_stock(self, levels: Sequence[StockLevel]) -> Sequence[ItemResult]:
        raise NotImplementedError  # TODO: one ItemResult per level; unknown SKU -> ok=False

    async def stock_levels(self, skus: Sequence[str]) -> Mapping[str, int | None]:
        # TODO: the store's current stock per SKU (None = sold without tracking a
        # quantity); leave out SKUs the store does not have. The first stock run compares
        # with it so a feed that would zero the shop is refused.
        raise NotImplementedError

    async def mark_shipped(self, shipment: Shipment) -> None:
        raise NotImplementedError  # TODO: read first; a second call must change nothing
''',
        "tests/test_conformance.py": f'''"""The conformance kit against the {name} connector.

Write the handle against a test store, then run ``pytest``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from {package} import {title}Connector, {title}Settings
from syncd.testing.conformance import (
    ConformanceSuite,
    Fulfilment,
    SeedOrder,
    SeedProduct,
    StoreHandle,
)


class {title}Handle:
    """Seeds and inspects a test store directly (never through the connector)."""

    shipping_method = "standard"   # TODO: a shipping-method code valid in the test store

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: list[httpx.AsyncClient] = []

    async def reset(self) -> None:
        raise NotImplementedError  # TODO: empty the test store

    async def add_product(self, product: SeedProduct) -> list[str]:
        raise NotImplementedError  # TODO: return store ids of the sellable SKUs

    async def update_product_name(self, store_id: str, name: str) -> None:
        raise NotImplementedError

    async def add_order(self, order: SeedOrder) -> str:
        raise NotImplementedError

    async def pay_order(self, store_id: str) -> None:
        raise NotImplementedError

    async def cancel_order(self, store_id: str) -> None:
        raise NotImplementedError

    async def stock_of(self, sku: str) -> int | None:
        raise NotImplementedError

    async def fulfilments(self, store_id: str) -> list[Fulfilment]:
        raise NotImplementedError

    async def customer_notifications(self, store_id: str) -> int:
        raise NotImplementedError

    async def is_shipped(self, store_id: str) -> bool:
        raise NotImplementedError

    def settings(self, **overrides: object) -> {title}Settings:
        fields: dict[str, object] = {{"url": self.url, "api_key": "test-key",
                                      "allow_http": True}}
        fields.update(overrides)
        return {title}Settings(**fields)  # type: ignore[arg-type]

    def connector(self, **overrides: object) -> {title}Connector:
        """A connector on the test store; ``page_size`` is among the overrides the kit uses."""
        http = httpx.AsyncClient(timeout=30)
        self._clients.append(http)
        return {title}Connector(self.settings(**overrides), http)

    def bad_credentials_settings(self) -> {title}Settings:
        return self.settings(api_key="wrong-key")

    async def aclose(self) -> None:
        for http in self._clients:
            await http.aclose()
        self._clients.clear()


@pytest.fixture
async def store_handle() -> AsyncIterator[StoreHandle]:
    handle = {title}Handle("http://127.0.0.1:8080")   # TODO: start or point at a test store
    yield handle
    await handle.aclose()


class Test{title}Conformance(ConformanceSuite):
    pass
''',
        "README.md": f'''# syncd-{name.replace("_", "-")}

ogo-syncd store connector for {name}.

    pip install -e '.[test]'    # in the environment ogo-syncd runs in
    pytest                      # runs the ogo-syncd conformance kit
    ogo-syncd connectors        # lists "{name}" with the capabilities it declares

Select it in the ogo-syncd config with `connector = "{name}"`; its `[stores.options]`
table is validated by `{title}Settings`.
''',
    }


def create_connector(name: str, directory: Path) -> Path:
    """Write a connector project for ``name`` under ``directory``; return its root.

    ``name`` is normalised first (:func:`normalise_name`). Refuses a name that is not an
    identifier, one an installed connector already has, and an existing project directory.
    """
    from importlib.metadata import entry_points

    from syncd.connector import ENTRY_POINT_GROUP

    name = normalise_name(name)
    if name in {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}:
        raise ValueError(f"connector name {name!r} is taken by an installed connector; "
                         "choose another")
    root = Path(directory) / f"syncd-{name.replace('_', '-')}"
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    for relative, text in _files(name).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
