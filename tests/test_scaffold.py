"""The connector scaffold produces an importable package wired to the conformance kit."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from syncd.connector import StoreConnector
from syncd.scaffold import create_connector
from syncd.testing.conformance import ConformanceSuite


def test_scaffold_is_a_connector_project(tmp_path: Path) -> None:
    root = create_connector("my-store", tmp_path)    # '-' is read as '_'
    assert root == tmp_path / "syncd-my-store"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["syncd.connectors"] == {
        "my_store": "syncd_my_store:MyStoreConnector"}
    sys.path.insert(0, str(root))
    try:
        import syncd_my_store

        cls = syncd_my_store.MyStoreConnector
        assert issubclass(cls, StoreConnector) and cls.name == "my_store"
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("syncd_my_store", None)
        sys.modules.pop("syncd_my_store.connector", None)
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=root, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(root), "PATH": ""},
    )
    contracts = [line for line in collected.stdout.splitlines()
                 if "TestMyStoreConformance::test_" in line]
    kit = [name for name in dir(ConformanceSuite) if name.startswith("test_")]
    assert len(contracts) == len(kit) > 0, collected.stdout + collected.stderr
    with pytest.raises(FileExistsError):        # the same connector, spelt the other way
        create_connector("my_store", tmp_path)
    with pytest.raises(FileExistsError):
        create_connector("My-Store", tmp_path)
    with pytest.raises(ValueError, match="connector name"):
        create_connector("1-store", tmp_path)
