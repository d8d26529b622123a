"""The README's first command installs without the test extras: `pip install . && ogo-syncd
demo`. The demo, the simulators and the CLI must import with none of them present.

A subprocess hides the test extras (``sys.modules[name] = None`` makes importing them an
ImportError, as in a venv that never installed them) and imports every module of the
package except the pytest plugin and the contract suite, which are pytest code by nature.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: pytest-only modules: the kit's plugin and its test classes (``ConformanceSuite``)
PYTEST_ONLY = {"syncd.testing.conformance.plugin", "syncd.testing.conformance.suite"}


def _test_extras() -> list[str]:
    """Import names of the ``[test]`` extra's packages that the base install lacks."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_dist(d) for d in project["dependencies"]}
    names = {"pytest-asyncio": "pytest_asyncio", "pytest-timeout": "pytest_timeout",
             "graphql-core": "graphql", "psycopg[binary]": "psycopg"}
    return sorted(names.get(d, d).replace("-", "_") for d in map(_dist,
                  project["optional-dependencies"]["test"]) if d not in base)


def _dist(requirement: str) -> str:
    for sep in "<>=!~;":
        requirement = requirement.split(sep)[0]
    return requirement.strip()


def test_package_imports_without_test_extras() -> None:
    hidden = _test_extras()
    assert "pytest" in hidden and "respx" in hidden
    code = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        for name in {hidden!r}:
            sys.modules[name] = None
        import syncd, connectors
        failed = []
        for pkg in (syncd, connectors):
            for info in pkgutil.walk_packages(
                    pkg.__path__, pkg.__name__ + ".",
                    onerror=lambda name: failed.append(f"{{name}}: {{sys.exc_info()[1]}}")):
                if info.name in {sorted(PYTEST_ONLY)!r} or ".migrations." in info.name \
                        or info.name.endswith("__main__"):
                    continue
                try:
                    importlib.import_module(info.name)
                except ImportError as exc:
                    failed.append(f"{{info.name}}: {{exc}}")
        print("\\n".join(failed))
        sys.exit(1 if failed else 0)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_conformance_suite_still_importable_from_the_package() -> None:
    from syncd.testing.conformance import ConformanceSuite

    assert ConformanceSuite.__module__ == "syncd.testing.conformance.suite"
