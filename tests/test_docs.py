"""The docs stand alone: every repo path they name exists, nothing points outside the repo,
and every config snippet in them loads with the real config loader.

Scanned: README.md, docs/, deploy/README.md, config.example.toml, and the docstrings and
comments of the Python code. A *repo path* is a token that starts with a top-level entry
of the repository (``syncd/``, ``docs/operations.md``, ``deploy/ogo-syncd.service``...);
a bare ``*.md`` name must be a file somewhere in the repo.
"""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import tokenize
import tomllib
from pathlib import Path
from typing import Any

import pytest

from syncd.config import load_config

ROOT = Path(__file__).resolve().parents[1]
#: paths that the docs name inside a project *generated* by `ogo-syncd new-connector`
GENERATED = {"tests/test_conformance.py"}
#: the design folder the project was built from lives beside the repo, never in it
_OUTSIDE = re.compile(r"(?:/work/|\.\./|\b)shared/[\w./-]+")
_TOKEN = re.compile(r"(?<![\w/.$-])((?:\.\./)+[\w./-]*|[\w.-]+(?:/[\w.@%-]*)+|[\w.-]+\.md)\b/?")


def _tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [line for line in out.splitlines() if line and (ROOT / line).exists()]


def _doc_texts(tracked: list[str]) -> dict[str, str]:
    """file -> the text in it that is documentation (whole docs; docstrings and comments)."""
    texts: dict[str, str] = {}
    for name in tracked:
        if name.endswith(".md") or name in ("config.example.toml",) or \
                name.startswith("deploy/"):
            texts[name] = (ROOT / name).read_text(encoding="utf-8")
        elif name.endswith(".py") and not name.startswith("syncd/state/migrations/versions/"):
            texts[name] = _python_docs((ROOT / name).read_text(encoding="utf-8"))
    return texts


def _python_docs(source: str) -> str:
    parts: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                parts.append(doc)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            parts.append(tok.string)
    return "\n".join(parts)


def _mentions(text: str, tops: set[str]) -> set[str]:
    found = set()
    for match in _TOKEN.finditer(text):
        token = match.group(1).rstrip(".,:;")
        first = token.split("/", 1)[0]
        if token.startswith("../") or (first in tops and "/" in token) or \
                (token.endswith(".md") and "/" not in token):
            found.add(token)
    return found


def test_repo_paths_named_in_the_docs_exist() -> None:
    assert path_problems() == []


def path_problems() -> list[str]:
    """One line per path the docs name that is missing or outside the repository."""
    tracked = _tracked()
    tops = {name.split("/", 1)[0] for name in tracked}
    basenames = {Path(name).name for name in tracked}
    dirs = {str(parent) for name in tracked for parent in Path(name).parents}
    problems = []
    for doc, text in sorted(_doc_texts(tracked).items()):
        problems += [f"{doc}: {m.group(0)} is outside the repository"
                     for m in _OUTSIDE.finditer(text)]
        for path in sorted(_mentions(text, tops)):
            if path.startswith("../"):     # a relative link: fine while it stays inside
                target = ((ROOT / doc).parent / path).resolve()
                if not target.is_relative_to(ROOT) or not target.exists():
                    problems.append(f"{doc}: {path} is outside the repository or missing")
            elif "/" not in path:
                if path not in basenames:
                    problems.append(f"{doc}: {path} is not in the repository")
            elif path.rstrip("/") not in dirs and path not in tracked and \
                    not _wildcard_exists(path, tracked) and path not in GENERATED:
                problems.append(f"{doc}: {path} does not exist")
    return problems


def _wildcard_exists(path: str, tracked: list[str]) -> bool:
    """``deploy/ogo-syncd@.service`` style names and ``dir/`` prefixes of tracked files."""
    return any(name.startswith(path) for name in tracked)


def test_the_path_check_finds_a_missing_path() -> None:
    tops = {"docs", "syncd"}
    text = "see `docs/nowhere.md`, ../shared/DESIGN.md, anchors.md and /work/shared/x.md"
    assert _mentions(text, tops) == {"docs/nowhere.md", "../shared/DESIGN.md", "anchors.md"}
    assert [m.group(0) for m in _OUTSIDE.finditer(text)] == [
        "../shared/DESIGN.md", "/work/shared/x.md"]


# -- config snippets ----------------------------------------------------------------------

_FENCED = re.compile(r"```toml\n(.*?)```", re.S)
#: inline ``[section] key = value`` in prose
_INLINE = re.compile(r"`(\[\[?[a-z.]+\]\]?) ([a-z_]+ = [^`]+)`")
_ENV = re.compile(r'\benv\s*=\s*"([^"]+)"')
_FILE = re.compile(r'\bfile\s*=\s*"([^"]+)"')
#: what a snippet does not say is filled in from here (key by key; stores by connector)
BASE = tomllib.loads("""
[myogo]
api_url = "https://api.example/api/v1"
token_url = "https://api.example/OAuth/Token"
merchant_id = "merchant-1"
secret_token = "secret-token-1"

[[stores]]
name = "shop"
connector = "woocommerce"
reference_prefix = "WC-"
[stores.options]
url = "https://shop.example"
consumer_key = "ck_example"
consumer_secret = "cs_example"
""")


def config_snippets() -> list[tuple[str, str]]:
    """(where, TOML text) for every config example in the docs, and config.example.toml."""
    found = [("config.example.toml", (ROOT / "config.example.toml").read_text())]
    docs = [ROOT / "README.md", ROOT / "deploy" / "README.md",
            *sorted((ROOT / "docs").rglob("*.md"))]
    for path in docs:
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        for match in _FENCED.finditer(text):
            found.append((f"{name}:{text[:match.start()].count(chr(10)) + 1}", match.group(1)))
        for match in _INLINE.finditer(text):
            found.append((f"{name}:{text[:match.start()].count(chr(10)) + 1}",
                          f"{match.group(1)}\n{match.group(2)}\n"))
    return found


def _complete(snippet: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {**BASE, **{k: v for k, v in snippet.items() if k != "stores"}}
    for section in ("daemon", "myogo"):
        if section in snippet and section in BASE:
            config[section] = {**BASE[section], **snippet[section]}
    if "stores" in snippet:
        base = BASE["stores"][0]
        config["stores"] = [
            {**base, **store, "options": {**base["options"], **store.get("options", {})}}
            if store.get("connector", base["connector"]) == base["connector"]
            else {**{k: base[k] for k in ("name", "reference_prefix")}, **store}
            for store in snippet["stores"]]
    return config


def _toml(config: dict[str, Any]) -> str:
    """A minimal TOML writer for config dicts (tables, arrays of tables, inline tables)."""
    lines: list[str] = []

    def table(header: str, values: dict[str, Any]) -> None:
        lines.append(header)
        subtables = {k: v for k, v in values.items() if isinstance(v, dict)
                     and not _inline(k, v)}
        for key, value in values.items():
            if key not in subtables:
                lines.append(f"{json.dumps(key)} = {_value(value)}")
        name = header.strip("[]")
        for key, value in subtables.items():
            table(f"[{name}.{key}]", value)

    for key, value in config.items():
        if isinstance(value, list):
            for item in value:
                table(f"[[{key}]]", item)
        else:
            table(f"[{key}]", value)
    return "\n".join(lines) + "\n"


def _inline(key: str, value: dict[str, Any]) -> bool:
    return set(value) <= {"env", "file"} or key == "shipping_map"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"


@pytest.mark.parametrize(("where", "snippet"), config_snippets(), ids=lambda v: v[:40])
def test_config_snippet_in_the_docs_loads(where: str, snippet: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert "${" not in snippet, f"{where}: the config has no ${{...}} expansion; " \
        'use { env = "NAME" } or { file = "name" }'
    for name in _ENV.findall(snippet):
        monkeypatch.setenv(name, f"value-of-{name}")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    for name in _FILE.findall(snippet):
        (credentials / name).write_text(f"value-of-{name}\n")
    path = tmp_path / "config.toml"
    path.write_text(_toml(_complete(tomllib.loads(snippet))))
    load_config(path)   # ConfigError names what is wrong


def test_snippets_are_found() -> None:
    wheres = [where.split(":")[0] for where, _ in config_snippets()]
    assert "docs/connectors/woocommerce.md" in wheres and "docs/operations.md" in wheres


def test_a_shell_placeholder_as_secret_is_refused_with_the_real_syntax(tmp_path: Path) -> None:
    """What the WooCommerce page once showed: taken literally, it would be sent as the key."""
    from syncd.config import format_config_error
    from syncd.errors import ConfigError

    config = _complete({"stores": [{"options": {"consumer_secret": "${WOO_SECRET}"}}]})
    path = tmp_path / "config.toml"
    path.write_text(_toml(config))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = format_config_error(caught.value)
    assert "stores[0].options.consumer_secret" in line and '{ env = "NAME" }' in line, line
