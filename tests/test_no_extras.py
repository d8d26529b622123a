"""The README's first command installs without the test extras: `pip install . && ogo-syncd
demo`. The demo, the simulators and the CLI must import with none of them present.

A subprocess hides the test extras (``sys.modules[name] = None`` makes importing them an
ImportError, as in a venv that never installed them) and imports every module of the
package except the pytest plugin and the contract suite, which are pytest code by nature.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: pytest-only modules: the kit's plugin and its test classes (``ConformanceSuite``)
PYTEST_ONLY = {"syncd.testing.conformance.plugin", "syncd.testing.conformance.suite"}
#: what the README's first command and the simulators need: never an extra
MUST_IMPORT = ("syncd.cli", "syncd.demo", "syncd.daemon", "syncd.testing", "connectors")
#: import names that differ from the distribution name
IMPORT_NAMES = {"pytest-asyncio": "pytest_asyncio", "pytest-timeout": "pytest_timeout",
                "graphql-core": "graphql", "prometheus-client": "prometheus_client"}


def _extras() -> tuple[list[str], set[str]]:
    """(import names the ``[test]`` extra adds to the base install, import names of the
    optional features' extras such as ``postgres`` and ``fleet``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_dist(d) for d in project["dependencies"]}
    extras = project["optional-dependencies"]
    test = sorted(_import_name(d) for d in map(_dist, extras["test"]) if d not in base)
    features = {_import_name(_dist(d)) for name, reqs in extras.items() if name != "test"
                for d in reqs}
    return test, features


def _dist(requirement: str) -> str:
    for sep in "[<>=!~;":
        requirement = requirement.split(sep)[0]
    return requirement.strip()


def _import_name(dist: str) -> str:
    return IMPORT_NAMES.get(dist, dist).replace("-", "_")


def test_package_imports_without_test_extras() -> None:
    hidden, features = _extras()
    assert "pytest" in hidden and "respx" in hidden
    code = textwrap.dedent(f"""
        import importlib, json, pkgutil, sys
        for name in {hidden!r}:
            sys.modules[name] = None
        import syncd, connectors
        failed = []

        def record(module):
            exc = sys.exc_info()[1]
            missing = (getattr(exc, "name", None) or "").split(".")[0]
            failed.append({{"module": module, "missing": missing, "error": str(exc)}})

        for pkg in (syncd, connectors):
            for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".", onerror=record):
                if info.name in {sorted(PYTEST_ONLY)!r} or ".migrations." in info.name \
                        or info.name.endswith("__main__"):
                    continue
                try:
                    importlib.import_module(info.name)
                except ImportError:
                    record(info.name)
        print(json.dumps(failed))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    # an optional feature (PostgreSQL state, fleet workers) may need its own extra
    wrong = [f for f in json.loads(result.stdout)
             if f["missing"] not in features or f["module"].startswith(MUST_IMPORT)]
    assert wrong == []


def test_conformance_suite_still_importable_from_the_package() -> None:
    from syncd.testing.conformance import ConformanceSuite

    assert ConformanceSuite.__module__ == "syncd.testing.conformance.suite"
