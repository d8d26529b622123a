"""The systemd units in deploy/: systemd's own checker accepts them, and they are hardened.

``systemd-analyze verify`` refuses a unit whose ExecStart binary does not exist, and
``/usr/local/bin/ogo-syncd`` only exists on an installed host. So each test verifies a
temporary copy whose ExecStart points at this virtualenv's ``ogo-syncd`` (``/bin/true``
if the console script is missing); everything else is checked exactly as shipped.

The tool comes from Debian's ``systemd`` package. Without it the tests skip, except in CI
(``CI=true``), where a missing tool is a failure (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SHIPPED_EXEC = "/usr/local/bin/ogo-syncd"
UNITS = {
    # file name -> the unit name systemd-analyze is asked about
    "ogo-syncd.service": "ogo-syncd.service",
    "ogo-syncd@.service": "ogo-syncd@shop1.service",
}
MAX_EXPOSURE = 2.0


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        message = "systemd-analyze not installed (Debian/Ubuntu package: systemd)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI must install it")
        pytest.skip(message)
    return tool


def parse_unit(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) in order; repeated keys are kept (systemd allows them)."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def values(text: str, key: str) -> list[str]:
    return [v for s, k, v in parse_unit(text) if s == "Service" and k == key]


def executable() -> str:
    script = Path(sys.executable).parent / "ogo-syncd"
    return str(script) if os.access(script, os.X_OK) else "/bin/true"


def make_testable_copy(name: str, directory: Path, *, extra: str = "") -> Path:
    """The unit with only ExecStart's binary replaced (and ``extra`` lines, for the
    negative control)."""
    text = (DEPLOY / name).read_text()
    assert text.count(f"ExecStart={SHIPPED_EXEC} ") == 1, "ExecStart path changed: update test"
    text = text.replace(f"ExecStart={SHIPPED_EXEC} ", f"ExecStart={executable()} ")
    if extra:
        text = text.replace("[Service]\n", f"[Service]\n{extra}\n")
    path = directory / name
    path.write_text(text)
    return path


def verify(tool: str, directory: Path, unit: str) -> tuple[int, str]:
    proc = subprocess.run([tool, "verify", "--man=no", unit], cwd=directory,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def unit_complaints(output: str) -> list[str]:
    """Lines about our units (unknown keys are only warnings, rc stays 0)."""
    return [line for line in output.splitlines() if "ogo-syncd" in line]


@pytest.mark.parametrize("name", list(UNITS))
def test_systemd_analyze_verify_accepts_the_unit(name: str, tmp_path: Path) -> None:
    tool = analyze()
    make_testable_copy(name, tmp_path)
    for unit in {name, UNITS[name]}:  # the template itself and an instance of it
        rc, output = verify(tool, tmp_path, f"./{unit}")
        assert rc == 0, output
        assert unit_complaints(output) == [], output


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a typo'd key and a missing binary are both reported."""
    tool = analyze()
    path = make_testable_copy("ogo-syncd.service", tmp_path, extra="WatchdogSecs=60")
    path.write_text(path.read_text().replace(executable(), "/nonexistent/ogo-syncd"))
    rc, output = verify(tool, tmp_path, "./ogo-syncd.service")
    assert rc != 0
    assert any("WatchdogSecs" in line for line in unit_complaints(output)), output


@pytest.mark.parametrize("name", list(UNITS))
def test_security_exposure_is_low(name: str, tmp_path: Path) -> None:
    tool = analyze()
    help_text = subprocess.run([tool, "--help"], capture_output=True, text=True).stdout
    if "--offline" not in help_text:
        pytest.skip("this systemd-analyze has no --offline security review (needs >= 250)")
    path = make_testable_copy(name, tmp_path)
    proc = subprocess.run([tool, "security", "--offline=yes", "--no-pager", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, proc.stdout


@pytest.mark.parametrize("name", list(UNITS))
def test_unit_contract(name: str) -> None:
    """What the daemon and the docs rely on (readable without systemd installed)."""
    text = (DEPLOY / name).read_text()
    one = {k: values(text, k) for k in (
        "Type", "NotifyAccess", "WatchdogSec", "Restart", "RestartPreventExitStatus",
        "DynamicUser", "UMask", "CapabilityBoundingSet", "MemoryDenyWriteExecute",
        "ProtectSystem", "RestrictAddressFamilies", "ConfigurationDirectory")}
    assert one == {
        "Type": ["notify"], "NotifyAccess": ["main"], "WatchdogSec": ["60"],
        "Restart": ["on-failure"], "RestartPreventExitStatus": ["78"],
        "DynamicUser": ["yes"], "UMask": ["0077"], "CapabilityBoundingSet": [""],
        "MemoryDenyWriteExecute": ["yes"], "ProtectSystem": ["strict"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "ConfigurationDirectory": ["ogo-syncd"],
    }
    assert values(text, "SystemCallFilter") == ["@system-service", "~@privileged @resources"]
    assert values(text, "IPAddressDeny") == []     # it needs the network
    instance = "@" in name
    config = "/etc/ogo-syncd/%i.toml" if instance else "/etc/ogo-syncd/config.toml"
    assert values(text, "ExecStart") == [f"{SHIPPED_EXEC} run --config {config}"]
    assert values(text, "StateDirectory") == ["ogo-syncd/%i" if instance else "ogo-syncd"]
    credentials = "/etc/ogo-syncd/credentials/" + ("%i/" if instance else "")
    assert values(text, "LoadCredential") == [f"myogo-secret:{credentials}myogo-secret"]
