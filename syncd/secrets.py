"""Secret references in the config: a literal, ``{ env = "NAME" }`` or ``{ file = "name" }``.

Secrets live outside the config file where possible (systemd ``LoadCredential=`` puts them in
``$CREDENTIALS_DIRECTORY``), so the file itself can be world-readable. Resolved values are
never put into an error message: errors name the config key and the variable or file only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syncd.errors import ConfigError

SECRET_REF_HELP = 'a string, { env = "NAME" } or { file = "name" }'


def is_secret_ref(value: object, *, secret_field: bool = False) -> bool:
    """True for a TOML table meant as a secret reference.

    Anywhere, a table whose only key is ``env`` or ``file`` is one. For a field known to hold
    a secret, any table with such a key counts, so a malformed reference gets a clear error.
    """
    if not isinstance(value, Mapping):
        return False
    keys = set(value)
    return bool({"env", "file"} & keys) and (secret_field or len(keys) == 1)


def resolve_secret_ref(ref: Mapping[str, Any], *, key: str, base_dir: Path) -> str:
    """The value a ``{ env = ... }`` / ``{ file = ... }`` table points at.

    Relative file names are looked up in ``$CREDENTIALS_DIRECTORY`` when systemd set it,
    else next to the config file (``base_dir``). One trailing newline is dropped because
    ``echo secret > file`` adds it.
    """
    if len(ref) != 1:
        raise ConfigError(f"expected {SECRET_REF_HELP}, got a table with keys "
                          f"{', '.join(sorted(map(str, ref)))}", key=key)
    (kind, name), = ref.items()
    if not isinstance(name, str) or not name:
        raise ConfigError(f"expected {kind} = \"<name>\" (a non-empty string)", key=key)
    if kind == "env":
        return _from_env(name, key=key)
    return _from_file(name, key=key, base_dir=base_dir)


def _from_env(name: str, *, key: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"environment variable {name} is not set", key=key)
    if value == "":
        raise ConfigError(f"environment variable {name} is empty", key=key)
    return value


def credential_path(name: str, *, base_dir: Path) -> Path:
    """Where ``{ file = name }`` is read from."""
    path = Path(name).expanduser()
    if path.is_absolute():
        return path
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    return (Path(credentials) if credentials else base_dir) / path


def _from_file(name: str, *, key: str, base_dir: Path) -> str:
    path = credential_path(name, base_dir=base_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot read secret file {path}: {reason}", key=key) from None
    except UnicodeDecodeError:
        raise ConfigError(f"secret file {path} is not UTF-8 text", key=key) from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise ConfigError(f"secret file {path} is empty", key=key)
    return text
