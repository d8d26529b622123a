"""Check a built wheel carries the whole package: usage ``python .ci/check_wheel.py WHEEL``.

Every file tracked under syncd/ and connectors/ (code, alembic migrations, script.py.mako,
simulator data, py.typed) must be in the wheel, nothing else under them (a stale build/
directory can add deleted files), and the entry points must be the ones pyproject.toml
declares. Exits 1 listing what differs.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("syncd", "connectors")


def tracked_files() -> set[str]:
    out = subprocess.run(["git", "ls-files", "--", *PACKAGES], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return {line for line in out.splitlines() if line}


def wheel_entry_points(wheel: zipfile.ZipFile) -> dict[str, dict[str, str]]:
    [name] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(wheel.read(name).decode())
    return {s: {k: v.strip() for k, v in parser[s].items()} for s in parser.sections()}


def declared_entry_points() -> dict[str, dict[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}


def main(path: str) -> int:
    with zipfile.ZipFile(path) as wheel:
        shipped = {n for n in wheel.namelist() if n.split("/", 1)[0] in PACKAGES}
        entry_points = wheel_entry_points(wheel)
    expected = tracked_files()
    problems = [f"missing from the wheel: {f}" for f in sorted(expected - shipped)]
    problems += [f"in the wheel but not tracked: {f}" for f in sorted(shipped - expected)]
    if entry_points != declared_entry_points():
        problems.append(f"entry points {entry_points} != pyproject {declared_entry_points()}")
    for line in problems:
        print(f"check_wheel: {line}", file=sys.stderr)
    if not problems:
        print(f"check_wheel: {Path(path).name}: {len(shipped)} files, entry points OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
