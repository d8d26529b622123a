"""pytest plugin of the conformance kit (registered through the ``pytest11`` entry point).

It registers the ``conformance`` marker and a fallback ``store_handle`` fixture that says
what to provide; a connector's own ``store_handle`` fixture overrides it.
"""

from __future__ import annotations

import pytest

from syncd.testing.conformance.suite import ConformanceSuite


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "conformance: a connector contract test from syncd.testing.conformance")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, ConformanceSuite):
            item.add_marker(pytest.mark.conformance)


@pytest.fixture
def store_handle() -> None:
    pytest.fail(
        "the conformance kit needs a fixture named 'store_handle' returning a "
        "syncd.testing.conformance.StoreHandle for your store (define it in the test "
        "module or a conftest.py)")
